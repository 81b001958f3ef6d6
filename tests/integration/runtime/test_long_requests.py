"""Calls longer than gRPC's default ping policy tolerates (about 40 s with braid's 10-second
keepalive pings): a 120 s request through a chain of two sidecars, over HTTP, gRPC and the
Python entry point at once, and a stream that keeps sending items for a minute."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterator

import pytest
from edge_harness import GRAPHS, Running, braid_run, curl, grpcurl, request

import braid.runtime

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    files = [GRAPHS / "long.yaml", GRAPHS / "ticks.yaml"]
    with braid_run(files, tmp_path_factory.mktemp("long")) as launched:
        yield launched


def test_a_120_second_call_through_a_chain_and_a_minute_of_stream(running: Running) -> None:
    # Each step waits 60 s: the ingress's call and the hop between the sidecars are idle for
    # 120 s and 60 s, well past the "too many pings" point.
    with (
        braid.runtime.run(GRAPHS / "long.yaml") as app,
        concurrent.futures.ThreadPoolExecutor(4) as pool,
    ):
        headers = {"Content-Type": "application/json"}
        over_http = pool.submit(request, running.http, "POST", "/long", b"60", headers, 200)
        data = json.dumps({"graph": "long", "json": "60"})
        over_grpc = pool.submit(grpcurl, running.grpc, "braid.v1.Graph/Invoke", data, timeout=200)
        from_python = pool.submit(lambda: app.remote(60).result(200))
        ticks = pool.submit(curl, "-N", "-d", "60", f"http://{running.http}/ticks", timeout=200)
        reply = over_http.result()
        assert (reply.status, reply.json()) == (200, 60), reply.body
        result = over_grpc.result()
        assert result.returncode == 0, result.stderr
        assert json.loads(json.loads(result.stdout)["json"]) == 60
        assert from_python.result() == 60
        streamed = ticks.result()
        assert streamed.returncode == 0, streamed.stderr
        assert [json.loads(line) for line in streamed.stdout.split()] == list(range(60))
