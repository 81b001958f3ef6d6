"""The pod layout under `braid run --layout pod`: a sidecar and a `braid worker` per replica.

What Kubernetes runs, run here: handle calls from the worker, a worker killed or stopped under
load (the replica must leave service and come back, and callers must use the other replica),
and a class that cannot load (one line naming the cause, nothing of braid's internals).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from edge_harness import GRAPHS, Reply, Running, braid_run, post_json, start_run, stop_run
from grpc_health.v1 import health_pb2, health_pb2_grpc

CLIENTS = 4


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("pod-layout")
    with braid_run([GRAPHS / "handles.yaml"], work, "--layout", "pod") as launched:
        yield launched


def relay(running: Running, seconds: float = 0.0) -> Reply:
    return post_json(running.http, "/handles", seconds, **{"X-Request-Timeout": "20"})


def process(running: Running, name: str) -> dict[str, object]:
    found = [p for p in running.status["processes"] if p["name"] == name]
    assert found, f"no process {name}: {running.status['processes']}"
    return found[0]


def replica_status(address: str) -> str:
    """The sidecar's braid.v1.Replica health: SERVING, NOT_SERVING, or UNREACHABLE."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service="braid.v1.Replica"), timeout=2)
        except grpc.RpcError:
            return "UNREACHABLE"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def wait_for(check: object, wanted: str, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    seen = ""
    while time.monotonic() < end:
        seen = check()  # type: ignore[operator]
        if seen == wanted:
            return
        time.sleep(0.1)
    raise AssertionError(f"still {seen}, not {wanted}, after {seconds} s")


class Load:
    """Clients that call the graph back to back until stopped; counts answers by status."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.stop = threading.Event()
        self.replies: list[Reply] = []
        self.in_flight_at_fault = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    def client(self) -> None:
        while not self.stop.is_set():
            with self._lock:
                self._in_flight += 1
            reply = relay(self.running, 0.05)
            with self._lock:
                self._in_flight -= 1
                self.replies.append(reply)

    def fault(self, action: object) -> None:
        with self._lock:
            self.in_flight_at_fault = self._in_flight
            action()  # type: ignore[operator]

    @property
    def failed(self) -> list[Reply]:
        return [reply for reply in self.replies if reply.status != 200]


def under_load(running: Running, action: object, seconds: float) -> Load:
    load = Load(running)
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        clients = [pool.submit(load.client) for _ in range(CLIENTS)]
        time.sleep(1.0)
        load.fault(action)
        time.sleep(seconds)
        load.stop.set()
        for client in clients:
            client.result(timeout=60)  # nothing hangs
    return load


def test_handle_calls_work_from_the_worker(running: Running) -> None:
    pids = {relay(running).json() for _ in range(20)}
    leaves = {process(running, f"worker handles/leaf#{i}")["pid"] for i in (0, 1)}
    assert pids <= leaves
    assert len(pids) == 2, "both leaf replicas serve"


def test_a_killed_worker_fails_only_its_in_flight_calls(running: Running) -> None:
    worker = process(running, "worker handles/leaf#0")
    sidecar = str(process(running, "replica handles/leaf#0")["address"])
    load = under_load(running, lambda: os.kill(int(worker["pid"]), signal.SIGKILL), 4.0)
    print(  # the figure for docs/reliability.md (pytest -s shows it)
        f"killed worker: {len(load.failed)} of {len(load.replies)} requests failed, "
        f"{load.in_flight_at_fault} in flight at the kill"
    )
    assert len(load.replies) > 40
    assert len(load.failed) <= load.in_flight_at_fault, [r.body for r in load.failed]
    for reply in load.failed:
        assert reply.status in (500, 503), reply.body
    # braid run restarts the worker, and the replica serves again without a restart of its own.
    wait_for(lambda: replica_status(sidecar), "SERVING")
    log = running.log.read_text()
    assert 'node "leaf": lost the worker' in log
    assert 'node "leaf": the worker answers again' in log
    assert "Traceback" not in log


def test_a_stopped_worker_takes_its_replica_out_of_service(running: Running) -> None:
    worker = int(process(running, "worker handles/leaf#1")["pid"])
    sidecar = str(process(running, "replica handles/leaf#1")["address"])
    wait_for(lambda: replica_status(sidecar), "SERVING")
    os.kill(worker, signal.SIGSTOP)
    try:
        wait_for(lambda: replica_status(sidecar), "NOT_SERVING", seconds=10)
        # Out of service: every new request is answered, by the other replica.
        replies = [relay(running) for _ in range(20)]
        assert [reply.status for reply in replies] == [200] * 20
        assert worker not in {reply.json() for reply in replies}
    finally:
        os.kill(worker, signal.SIGCONT)
    wait_for(lambda: replica_status(sidecar), "SERVING", seconds=20)
    # Back in service once callers see it again (peers file re-read, router cool-down over).
    # braid run's liveness check may have restarted the stopped worker meanwhile: a new pid.
    answered_by: set[int] = set()
    end = time.monotonic() + 15
    while time.monotonic() < end:
        answered_by.add(relay(running).json())
        status = json.loads((running.log.parent / "status.json").read_text())
        now = {p["pid"] for p in status["processes"] if p["name"] == "worker handles/leaf#1"}
        if answered_by & now:
            break
        time.sleep(0.05)
    assert answered_by & now


def test_a_class_that_cannot_load_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        (GRAPHS / "handles.yaml").read_text().replace("edge_nodes:Whoami", "edge_nodes:Missing")
    )
    (tmp_path / "edge_nodes.py").symlink_to(GRAPHS / "edge_nodes.py")
    with pytest.raises(RuntimeError) as failed:
        running = start_run([broken], tmp_path / "run", "--layout", "pod")
        stop_run(running.process)
    log = (tmp_path / "run" / "braid-run.log").read_text()
    assert "did not start" in str(failed.value)
    assert 'braid: node "leaf": ' in log and "Missing" in log, log
    for noise in ("Traceback", "Exception ignored", "was never awaited", "Event loop is closed"):
        assert noise not in log, log
