"""Helpers for the edge's integration tests (imported by basename, as pytest puts this folder on
sys.path): `braid run` as a real process, and real clients.

Every test here talks to real processes on 127.0.0.1: ``braid run`` (started like a user would,
with free ports and a status file), ``curl`` for HTTP and ``grpcurl`` for gRPC. Each module
shares one running launch through a module-scoped fixture, to keep the suite's time modest.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[3]
EXAMPLES = ROOT / "examples"
GRAPHS = Path(__file__).parent / "graphs"
GRPCURL = str(Path(sys.executable).parent / "grpcurl")
START_TIMEOUT = 180.0
STOP_TIMEOUT = 40.0


@dataclass
class Running:
    """A running ``braid run``: its process, endpoints and the processes it started."""

    process: subprocess.Popen[bytes]
    status: dict[str, Any]
    log: Path

    @property
    def http(self) -> str:
        return str(self.status["http"])

    @property
    def grpc(self) -> str:
        return str(self.status["grpc"])

    def pids(self, name_part: str = "") -> list[int]:
        return [p["pid"] for p in self.status["processes"] if name_part in p["name"]]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def wait_gone(pids: list[int], timeout: float = STOP_TIMEOUT) -> list[int]:
    """The pids still alive after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < end:
        alive = [pid for pid in alive if pid_alive(pid)]
        time.sleep(0.1)
    return alive


def start_run(files: list[Path], work: Path, *extra: str) -> Running:
    work.mkdir(parents=True, exist_ok=True)
    status_file, log = work / "status.json", work / "braid-run.log"
    argv = [sys.executable, "-m", "braid", "run", *map(str, files)]
    argv += ["--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--status-file", str(status_file)]
    argv += ["--log-level", "WARNING", *extra]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    end = time.monotonic() + START_TIMEOUT
    while not status_file.exists():
        if process.poll() is not None or time.monotonic() > end:
            stop_run(process)
            raise RuntimeError(f"braid run did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)
    return Running(process, json.loads(status_file.read_text()), log)


def stop_run(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


@contextlib.contextmanager
def braid_run(files: list[Path], work: Path, *extra: str) -> Iterator[Running]:
    """Run ``braid run`` for the block; afterwards every process it started must be gone."""
    running = start_run(files, work, *extra)
    try:
        yield running
    finally:
        pids = running.pids()
        stop_run(running.process)
        assert wait_gone(pids) == [], f"processes left behind:\n{running.log.read_text()[-3000:]}"


def example_copy(name: str, work: Path, *, graph_file: str = "graph.yaml", route: str) -> Path:
    """An example's manifest with another route prefix, beside links to the example's code."""
    source = EXAMPLES / name
    target = work / f"{name}-{graph_file.removesuffix('.yaml')}"
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.suffix != ".yaml" and not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry)
    manifest = yaml.safe_load((source / graph_file).read_text())
    manifest["spec"].setdefault("ingress", {}).setdefault("http", {})["routePrefix"] = route
    (target / "graph.yaml").write_text(yaml.safe_dump(manifest))
    return target / "graph.yaml"


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    address: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Reply:
    """One HTTP request with the standard library's client."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def post_json(address: str, path: str, value: Any, **headers: str) -> Reply:
    return request(
        address,
        "POST",
        path,
        json.dumps(value).encode(),
        {"Content-Type": "application/json", **headers},
    )


def curl(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", str(int(timeout)), *args],
        capture_output=True,
        text=True,
        timeout=timeout + 10,
        check=False,
    )


def grpcurl(
    target: str, method: str, data: str, *extra: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRPCURL, "-plaintext", "-max-time", str(int(timeout)), *extra, "-d", data, target, method],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=False,
    )
