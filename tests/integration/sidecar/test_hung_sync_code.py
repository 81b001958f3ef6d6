"""Sync code that never returns: a deadline frees the request, and a replica whose threads are
all stuck says so (NOT_SERVING, ``braid_stuck_calls``) and still stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sidecar_harness import Replicas
from test_sidecar import call, client_for, run

from braid.runtime import DeadlineExceeded

GRAPH = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: hung}
spec:
  nodes:
    - {name: hanging, class: hanging:Hanging, maxOngoingRequests: 32, maxQueuedRequests: 32}
  flow:
    steps:
      - {name: a, call: hanging.fast, args: [$input]}
    output: $a
"""


async def _health(address: str, service: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
    return int(reply.status)


def _eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_a_replica_whose_threads_all_hang_reports_itself_and_stops(
    replicas_for: Callable[[str], Replicas],
) -> None:
    replicas = replicas_for(GRAPH)
    metrics_port = replicas.reserve_port()
    [address] = replicas.start("hanging", "--metrics-port", str(metrics_port))
    client = client_for(replicas)

    async def hang_twenty() -> list[BaseException | int]:
        calls = [run(client, call("hanging", "hang", i), timeout=2) for i in range(20)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(hang_twenty())
    assert all(isinstance(outcome, DeadlineExceeded) for outcome in outcomes), outcomes
    # The deadline freed every admission slot: async code of the node still answers.
    assert asyncio.run(run(client_for(replicas), call("hanging", "fast_async", 7))) == 7

    def metrics() -> str:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return str(reply.read().decode())

    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    if replicas.layout == "pod":
        # The worker is wedged, not the sidecar: the replica is not ready (its worker is not
        # answering); the worker's own liveness port is what the kubelet restarts it by.
        assert _eventually(lambda: asyncio.run(_health(address, "braid.v1.Replica")) == not_serving)
    else:
        stuck = 'braid_stuck_calls{graph="hung",node="hanging"} 16.0'
        assert _eventually(lambda: stuck in metrics())
        assert _eventually(lambda: asyncio.run(_health(address, "")) == not_serving)
        assert asyncio.run(_health(address, "braid.v1.Replica")) == not_serving

    [process] = replicas.processes["hanging"]
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError("a replica with hung threads ignored SIGTERM") from None
