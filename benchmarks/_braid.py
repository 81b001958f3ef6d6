"""braid's local mode as a system: ``braid run GRAPH.yaml`` per workload, on loopback.

Each workload starts ``braid run benchmarks/graphs/<graph>.yaml --http 127.0.0.1:P --grpc
127.0.0.1:Q``, waits until the gRPC ingress answers an Invoke, measures with the latency client
(gRPC) or wrk (HTTP), and stops it with SIGTERM (``braid run`` stops all its processes then).
When ``braid run`` does not exist yet, ``start`` raises ``Unavailable`` and the run goes on
without braid.

Idle memory of a replica is provisional until the data plane settles its process layout: the
resident memory of the processes under ``braid run`` whose command line names the node, else of
all of them except the launcher, with every process listed in the JSON.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc

from benchmarks._launching import Process, run_json
from benchmarks._machine import resident_memory_mb
from benchmarks._results import BRAID, Measurement, Status
from benchmarks._systems import (
    GRAPHS,
    REPO,
    Settings,
    Unavailable,
    free_port,
    http_measurement,
    latency_measurement,
)
from benchmarks._workloads import Kind, Workload

_READY_TIMEOUT_S = 120.0
#: Codes that mean "not serving yet": keep polling. Any other code fails the workload at once.
_STARTING = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_MEMORY_GRAPH = "chain-1"
_MEMORY_NODE = "hop-1"


class BraidError(RuntimeError):
    """braid's local mode started but did not answer as a graph should."""


def _braid_command() -> str | None:
    beside = Path(sys.executable).parent / "braid"
    return str(beside) if beside.exists() else shutil.which("braid")


def _descendants(root: int) -> list[int]:
    """Every process under ``root``, from /proc (read only)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _end_leftovers(started: list[tuple[int, str]], name: str) -> None:
    left = [pid for pid, cmdline in started if cmdline and _cmdline(pid) == cmdline]
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if left:
        print(f"  warning: {name} left {len(left)} processes running; ended them", file=sys.stderr)


class BraidSystem:
    name = BRAID

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._braid: str | None = None

    def start(self) -> None:
        braid = _braid_command()
        if braid is None:
            raise Unavailable("the braid command is not installed (pip install -e .)")
        done = subprocess.run(
            [braid, "run", "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise Unavailable("`braid run` is not available yet (the data plane, issue 3)")
        self._braid = braid

    def stop(self) -> None:
        """Nothing left running: every workload stops its own `braid run`."""

    def info(self) -> dict[str, Any]:
        return {
            "command": self._braid,
            "layout": self._settings.braid_layout,
            "entry_in_ingress": self._settings.braid_entry_in_ingress,
            "local_calls": self._settings.braid_local_calls,
        }

    def _run(self, stack: contextlib.ExitStack, graph: str) -> tuple[Process, str, str]:
        if self._braid is None:
            raise Unavailable("braid was not started")
        http, grpc_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        manifest = GRAPHS / f"{graph}.yaml"
        argv = [self._braid, "run", str(manifest), "--http", http, "--grpc", grpc_address]
        argv += ["--layout", self._settings.braid_layout]
        if self._settings.braid_entry_in_ingress:
            argv.append("--entry-in-ingress")
        if not self._settings.braid_local_calls:
            argv.append("--no-local-calls")
        code = [GRAPHS, REPO, REPO / "examples" / "batching"]  # the batching workloads' model
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, code))}
        process = Process(f"braid-{graph}", argv, self._settings.log_dir, GRAPHS, env)
        # Registered first, so it runs last: after `braid run` has stopped, end any process of
        # its tree that it left behind (and say so), rather than let it tax the next workload.
        started: list[tuple[int, str]] = []
        stack.callback(_end_leftovers, started, process.name)
        stack.enter_context(process)
        self._wait_ready(process, grpc_address)
        started.extend((pid, _cmdline(pid)) for pid in _descendants(process.pid))
        return process, http, grpc_address

    def _wait_ready(self, process: Process, address: str) -> None:
        # Imported late: the harness must still run Ray and the floor while braid is broken.
        from braid.runtime._proto import braid_pb2, braid_pb2_grpc  # noqa: PLC0415

        deadline = time.monotonic() + _READY_TIMEOUT_S
        with grpc.insecure_channel(address) as channel:
            stub = braid_pb2_grpc.GraphStub(channel)  # type: ignore[no-untyped-call]
            while time.monotonic() < deadline:
                if not process.running:
                    raise RuntimeError(f"braid run exited while starting (log: {process.log_path})")
                try:
                    stub.Invoke(braid_pb2.GraphRequest(json="1"), timeout=5)
                    return
                except grpc.RpcError as exc:
                    code = exc.code() if isinstance(exc, grpc.Call) else None
                    if code not in _STARTING:
                        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                        raise BraidError(
                            f"braid's ingress at {address} answered {code}: {details} "
                            f"(log: {process.log_path})"
                        ) from exc
                    time.sleep(0.5)
        raise TimeoutError(f"braid's ingress at {address} did not answer in {_READY_TIMEOUT_S:g} s")

    def measure(self, workload: Workload) -> Measurement:
        with contextlib.ExitStack() as stack:
            if workload.kind is Kind.MEMORY:
                process, _, _ = self._run(stack, _MEMORY_GRAPH)
                time.sleep(self._settings.settle_s)
                return self._memory(process.pid)
            process, http, address = self._run(stack, workload.graph)
            if workload.kind is Kind.HTTP:
                return http_measurement(f"http://{http}/", self._settings)
            requests, warmup = self._settings.requests_for(workload)
            argv = [
                sys.executable,
                "-m",
                "benchmarks._client",
                "braid",
                f"--target={address}",
                f"--payload-bytes={workload.payload_bytes}",
                f"--requests={requests}",
                f"--warmup={warmup}",
                f"--budget={self._settings.budget_s}",
                f"--in-flight={workload.in_flight}",
                f"--system-pid={process.pid}",
            ]
            timeout = self._settings.budget_s + 120
            name = f"braid-client-{workload.name}"
            return latency_measurement(run_json(name, argv, self._settings.log_dir, timeout, REPO))

    def _memory(self, launcher: int) -> Measurement:
        processes: list[dict[str, Any]] = [
            {"pid": pid, "cmdline": _cmdline(pid)[:200], **resident_memory_mb(pid)}
            for pid in _descendants(launcher)
        ]
        replica = [p for p in processes if _MEMORY_NODE in str(p["cmdline"])]
        method = f'processes whose command line names "{_MEMORY_NODE}"'
        if not replica:
            replica = [p for p in processes if "ingress" not in str(p["cmdline"])]
            method = "every process under braid run except the ingress (provisional)"
        detail: dict[str, Any] = {
            "rss_mb": sum(float(p.get("rss_mb", 0)) for p in replica),
            "pss_mb": sum(float(p.get("pss_mb", 0)) for p in replica),
            "processes": len(replica),
            "method": method,
            "tree": processes,
        }
        return Measurement(Status.OK, None, detail)
