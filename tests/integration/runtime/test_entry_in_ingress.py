"""``braid run --entry-in-ingress`` (decision 0024): the ingress process hosts a replica of the
flow's first node (or group) and calls it without gRPC, and user code there still cannot break
the ingress: a node that raises is named, a sync call that hangs fails at its deadline, and once
every thread of the in-ingress replica is stuck the calls go to the node's own replica instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from edge_harness import GRAPHS, Running, braid_run, post_json, request


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("entry-in-ingress")
    with braid_run([GRAPHS / "entry.yaml"], work, "--entry-in-ingress") as launched:
        yield launched


def _processes(running: Running) -> tuple[int, int, int]:
    [ingress] = running.pids("ingress")
    [first] = running.pids("entry/first")
    [second] = running.pids("entry/second")
    return ingress, first, second


def test_the_first_step_runs_in_the_ingress_process(running: Running) -> None:
    ingress, _, second = _processes(running)
    for value in (1, "two", [3]):  # the first request and the continuations after it
        reply = post_json(running.http, "/entry", value)
        assert reply.status == 200, reply.body
        assert reply.json() == {"value": value, "first": ingress, "second": second}


def test_a_first_step_that_raises_is_named_and_the_ingress_serves_on(running: Running) -> None:
    ingress, _, second = _processes(running)
    for _ in range(2):
        reply = post_json(running.http, "/entry", "raise")
        assert reply.status == 500
        error = reply.json()["error"]
        assert (error["kind"], error["node"], error["step"]) == ("UserCodeError", "first", "a")
        assert error["type"] == "ValueError"
        assert "the first step refuses this value" in error["message"]
    assert post_json(running.http, "/entry", 5).json() == {
        "value": 5,
        "first": ingress,
        "second": second,
    }


def test_a_wedged_entry_replica_steps_aside_for_the_nodes_own(running: Running) -> None:
    """Run last in this module: it leaves the in-ingress replica's threads stuck for good."""
    ingress, first, second = _processes(running)

    def hang(_: int) -> tuple[int, str, str]:
        reply = post_json(running.http, "/entry", "hang")
        error = reply.json()["error"]
        return reply.status, error["node"], error["step"]

    with ThreadPoolExecutor(16) as pool:  # the replica's 16 sync threads, all stuck
        assert set(pool.map(hang, range(16))) == {(504, "first", "a")}
    answered = None
    end = time.monotonic() + 30
    while time.monotonic() < end:
        reply = post_json(running.http, "/entry", 7)
        assert reply.status == 200, reply.body  # the ingress never stops serving
        answered = reply.json()
        if answered["first"] != ingress:
            break
        time.sleep(0.5)
    assert answered == {"value": 7, "first": first, "second": second}
    assert request(running.http, "GET", "/-/ready").status == 200
    assert "Traceback" not in running.log.read_text()


def test_a_co_located_group_runs_whole_in_the_ingress(tmp_path: Path) -> None:
    with braid_run([GRAPHS / "entry-fused.yaml"], tmp_path, "--entry-in-ingress") as running:
        [ingress] = running.pids("ingress")
        for value in ("x", 2):
            reply = post_json(running.http, "/fused", value)
            assert reply.json() == {"value": value, "first": ingress, "second": ingress}
        error = post_json(running.http, "/fused", "raise").json()["error"]
        assert (error["node"], error["step"], error["type"]) == ("first", "a", "ValueError")


def test_large_bytes_through_the_in_ingress_replica(tmp_path: Path) -> None:
    """10 MB in and out through shared memory; none of it is left in the run's folder."""
    with braid_run([GRAPHS / "entry-bytes.yaml"], tmp_path, "--entry-in-ingress") as running:
        shared = Path(str(running.status["shared_memory"]))
        payload = os.urandom(10 * 1024 * 1024)
        for _ in range(3):
            reply = request(
                running.http,
                "POST",
                "/bytes",
                payload,
                {"Content-Type": "application/octet-stream"},
            )
            assert reply.status == 200
            assert reply.body == payload

        def segments() -> list[str]:  # the folder's own marker (.domain) stays
            return sorted(p.name for p in shared.iterdir() if not p.name.startswith("."))

        end = time.monotonic() + 10
        while segments() and time.monotonic() < end:
            time.sleep(0.2)
        assert segments() == []


@pytest.mark.parametrize(
    ("files", "extra", "message"),
    [
        (["entry.yaml"], ["--layout", "pod"], "--entry-in-ingress needs the process layout"),
        (["entry.yaml", "entry-fused.yaml"], [], "--entry-in-ingress serves one graph"),
    ],
)
def test_where_it_cannot_apply_braid_run_says_why(
    tmp_path: Path, files: list[str], extra: list[str], message: str
) -> None:
    manifests = [str(GRAPHS / name) for name in files]
    argv = [sys.executable, "-m", "braid", "run", *manifests, "--entry-in-ingress"]
    argv += ["--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", *extra]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
