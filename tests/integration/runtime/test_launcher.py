"""`braid run` as a user meets it: start, answer, restart a crashed replica, stop everything on
Ctrl-C or SIGTERM; friendly errors for invalid manifests, busy ports and broken code. Also the
Python entry point, braid.runtime.run()."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from edge_harness import (
    EXAMPLES,
    GRAPHS,
    ROOT,
    post_json,
    start_run,
    stop_run,
    wait_gone,
)

import braid.runtime
from braid.runtime import RequestError, UserCodeError


def braid_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "braid", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopping_braid_run_leaves_no_process_behind(tmp_path: Path, signum: int) -> None:
    running = start_run([EXAMPLES / "chain" / "graph.yaml"], tmp_path)
    pids = running.pids()
    assert len(pids) == 3  # two sidecars and the ingress
    assert post_json(running.http, "/", 5).json() == 12
    running.process.send_signal(signum)
    assert running.process.wait(60) == 0
    assert wait_gone(pids) == []
    assert "braid: ready, 3 processes" in running.log.read_text()


def test_a_crashed_replica_is_restarted(tmp_path: Path) -> None:
    running = start_run([EXAMPLES / "chain" / "graph.yaml"], tmp_path)
    try:
        os.kill(running.pids("chain/adder")[0], signal.SIGKILL)
        answers = []
        for _ in range(300):  # bounded: at most about 30 s
            answers.append(post_json(running.http, "/", 5).status)
            if answers[-1] == 200 and "restarted" in running.log.read_text():
                break
            time.sleep(0.1)
        assert answers[-1] == 200
        log = running.log.read_text()
        assert "replica chain/adder#0 exited with code -9; restarting it" in log
    finally:
        stop_run(running.process)


def test_an_invalid_manifest_prints_what_validate_prints(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (EXAMPLES / "chain" / "graph.yaml").read_text().replace("replicas", "replcas")
    bad.write_text(text.replace("input: number", "input: number\n    bogus: 1"))
    ran, validated = braid_cli("run", str(bad)), braid_cli("validate", str(bad))
    assert ran.returncode == validated.returncode == 1
    assert ran.stdout == validated.stdout
    assert "bogus" in ran.stdout


def test_a_busy_port_is_a_friendly_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = braid_cli(
            "run", str(EXAMPLES / "hello" / "graph.yaml"), "--http", f"127.0.0.1:{port}"
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is not available" in result.stderr
    assert "--http 127.0.0.1:PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_graphs_on_one_route_prefix_are_refused() -> None:
    dispatch = EXAMPLES / "dispatch"
    result = braid_cli(
        "run", str(dispatch / "graph.yaml"), str(dispatch / "graph-declarative.yaml")
    )
    assert result.returncode == 1
    assert 'both use the route prefix "/"' in result.stderr


def test_code_that_cannot_load_stops_everything(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        (GRAPHS / "slow.yaml").read_text().replace("edge_nodes:Slow", "edge_nodes:Missing")
    )
    (tmp_path / "edge_nodes.py").symlink_to(GRAPHS / "edge_nodes.py")
    result = braid_cli("run", str(broken), "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0")
    assert result.returncode == 1
    assert "replica slow/slow#0 exited with code 1 while starting" in result.stderr


def test_python_entry_point(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    with braid.runtime.run(EXAMPLES / "chain" / "graph.yaml", GRAPHS / "ticker.yaml") as app:
        pids = app.pids
        assert app.remote(5).result() == 12
        assert asyncio.run(_await(app)) == 16
        stream = app.graph("ticker").options(stream=True).remote({"gate": str(gate), "count": 3})
        assert list(stream) == [{"tick": 0}, {"tick": 1}, {"tick": 2}]
        with pytest.raises(UserCodeError) as caught:
            app.remote("x").result()
        assert (caught.value.node, caught.value.step) == ("adder", "sum")
        assert isinstance(caught.value, RequestError)
        assert (
            json.loads(
                subprocess.run(
                    ["curl", "-sS", "-d", "1", str(app.http_url)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                ).stdout
            )
            == 4
        )
    assert wait_gone(pids) == []


async def _await(app: braid.runtime.App) -> object:
    return await app.remote(7)
