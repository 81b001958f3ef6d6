"""The sidecar as real processes: steps, peer-to-peer fetches, continuations, handles, errors,
backpressure, deadlines, large payloads, live reconfiguration and the two-process layout."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sidecar_harness import HERE, Replicas, wait_listening, wait_serving

from braid.runtime import DeadlineExceeded, Overloaded, UserCodeError
from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._proto.braid_pb2 import CallRequest, Upstream
from braid.runtime._wire.client import ChannelPool, ReplicaClient
from braid.runtime._wire.codec import UpstreamMarker, decode, encode
from braid.runtime._wire.routing import Router

GRAPH = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: core}
spec:
  nodes:
    - {name: echo, class: testnodes:Echo}
    - {name: echo2, class: testnodes:Echo}
    - {name: failing, class: testnodes:Failing}
    - {name: slow, class: testnodes:Slow, maxOngoingRequests: 1, maxQueuedRequests: 0}
    - {name: configured, class: testnodes:Configured, userConfig: {factor: 2}}
    - {name: unencodable, class: testnodes:Unencodable}
  flow:
    steps:
      - {name: a, call: echo.run, args: [$input]}
      - {name: b, call: echo2.run, args: [$a]}
      - {name: c, call: failing.run, args: [$b]}
      - {name: d, call: slow.run, args: [$c]}
      - {name: e, call: configured.run, args: [$d]}
      - {name: f, call: unencodable.run, args: [$e]}
    output: $f
"""

MakeReplicas = Callable[[str], Replicas]


def client_for(replicas: Replicas) -> ReplicaClient:
    return ReplicaClient(
        Router(StaticDiscovery(peers_file=replicas.directory / "peers.json", poll_interval=0)),
        ChannelPool(),
    )


def call(node: str, method: str, *args: Any, step: str = "", **fields: Any) -> CallRequest:
    fields.setdefault("return_result", True)
    return CallRequest(
        request_id=fields.pop("request_id", uuid.uuid4().hex),
        node=node,
        method=method,
        step=step,
        args=encode([list(args), {}]),
        **fields,
    )


async def run(client: ReplicaClient, request: CallRequest, timeout: float = 10) -> Any:
    _, reply = await client.call(request, deadline=time.monotonic() + timeout)
    return decode(reply.result)


def test_a_step_result_is_fetched_peer_to_peer(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    [producer] = replicas.start("echo")
    replicas.start("echo2")

    async def scenario() -> Any:
        client = client_for(replicas)
        rid = uuid.uuid4().hex
        # The consumer is dispatched first: its fetch waits at the producer until the value exists.
        consumer = asyncio.ensure_future(
            run(
                client,
                CallRequest(
                    request_id=rid, node="echo2", method="run", step="b", return_result=True,
                    args=encode([[UpstreamMarker(0)], {}]),
                    upstreams=[Upstream(address=producer, key=f"{rid}/a", path=["x"])],
                ),
            )
        )  # fmt: skip
        await asyncio.sleep(0.2)
        assert not consumer.done()
        await run(
            client,
            call(
                "echo",
                "run",
                {"x": [1, 2]},
                step="a",
                request_id=rid,
                result_key=f"{rid}/a",
                consumers=1,
            ),
        )
        return await consumer

    assert asyncio.run(scenario()) == [1, 2]


def test_continuations_run_a_chain_with_values_inline(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    replicas.start("echo")
    [second] = replicas.start("echo2")

    async def scenario() -> Any:
        client = client_for(replicas)
        rid = uuid.uuid4().hex
        follow = CallRequest(
            request_id=rid, node="echo2", method="run", step="b", return_result=True, address=second,
            args=encode([[UpstreamMarker(0)], {}]), upstreams=[Upstream(key=f"{rid}/a", path=["n"])],
        )  # fmt: skip
        first = call("echo", "run", {"n": 12}, step="a", request_id=rid)
        first.then.append(follow)
        _, reply = await client.call(first, deadline=time.monotonic() + 10)
        return decode(reply.then[0].result)

    assert asyncio.run(scenario()) == 12


def test_user_code_errors_name_node_and_step_and_reach_consumers(
    replicas_for: MakeReplicas,
) -> None:
    replicas = replicas_for(GRAPH)
    [failing] = replicas.start("failing")
    replicas.start("echo")

    async def scenario() -> tuple[BaseException, BaseException]:
        client = client_for(replicas)
        rid = uuid.uuid4().hex
        producer = run(
            client,
            call("failing", "run", 3, step="c", request_id=rid, result_key=f"{rid}/c", consumers=1),
        )
        consumer = run(
            client,
            CallRequest(
                request_id=rid, node="echo", method="run", step="d", return_result=True,
                args=encode([[UpstreamMarker(0)], {}]), upstreams=[Upstream(address=failing, key=f"{rid}/c")],
            ),
        )  # fmt: skip
        results = await asyncio.gather(producer, consumer, return_exceptions=True)
        return results[0], results[1]

    own, downstream = asyncio.run(scenario())
    assert isinstance(own, UserCodeError)
    assert str(own) == 'node "failing" (step "c") raised ValueError: cannot handle 3'
    # The consumer fails with the origin's error: it names the node and step that failed,
    # and the error body never reaches the consumer's code as a value.
    assert isinstance(downstream, UserCodeError)
    assert str(downstream) == str(own)


def test_overload_is_refused_at_once_with_a_retry_hint(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    replicas.start("slow")

    async def scenario() -> tuple[Any, BaseException, float]:
        client = client_for(replicas)
        busy = asyncio.ensure_future(run(client, call("slow", "run", 1.0)))
        await asyncio.sleep(0.3)
        began = time.monotonic()
        try:
            await run(client, call("slow", "run", 0.0))
        except Overloaded as exc:
            refused: BaseException = exc
        return await busy, refused, time.monotonic() - began

    result, refused, waited = asyncio.run(scenario())
    assert result == 1.0
    assert isinstance(refused, Overloaded)
    assert "overloaded" in str(refused) and refused.retry_after > 0
    assert waited < 0.9  # refused before the busy call finished: never queued


def test_a_node_slower_than_the_deadline_fails_the_call(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    replicas.start("slow")

    async def scenario() -> tuple[BaseException | None, Any]:
        client = client_for(replicas)
        try:
            await run(client, call("slow", "run", 5.0), timeout=0.3)
        except DeadlineExceeded as exc:
            error: BaseException | None = exc
        else:
            error = None
        # The slot was released: the replica serves the next call.
        return error, await run(client, call("slow", "run", 0.0))

    error, after = asyncio.run(scenario())
    assert isinstance(error, DeadlineExceeded)
    assert after == 0.0


def test_a_value_that_cannot_be_encoded_is_a_clear_error(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    replicas.start("unencodable")
    with pytest.raises(
        UserCodeError, match=r'node "unencodable" .* returned a value braid cannot send'
    ):
        asyncio.run(run(client_for(replicas), call("unencodable", "run", 1)))


def test_an_unknown_method_names_what_the_node_has(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    replicas.start("echo")
    with pytest.raises(Exception, match=r'node "echo" has no method "nope" \(it has: run, size\)'):
        asyncio.run(run(client_for(replicas), call("echo", "nope", 1)))


def test_100_mb_travels_through_two_hops(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    [producer] = replicas.start("echo")
    replicas.start("echo2")
    blob = b"\x07" * (100 * 1024 * 1024)

    async def scenario() -> Any:
        client = client_for(replicas)
        rid = uuid.uuid4().hex
        first = run(
            client,
            call("echo", "run", blob, step="a", request_id=rid, result_key=f"{rid}/a", consumers=1),
        )
        second = run(
            client,
            CallRequest(
                request_id=rid, node="echo2", method="size", step="b", return_result=True,
                args=encode([[UpstreamMarker(0)], {}]), upstreams=[Upstream(address=producer, key=f"{rid}/a")],
            ),
            timeout=60,
        )  # fmt: skip
        return (await asyncio.gather(first, second))[1]

    assert asyncio.run(scenario()) == len(blob)


def test_user_config_changes_reach_running_replicas_without_restart(
    replicas_for: MakeReplicas,
) -> None:
    replicas = replicas_for(GRAPH)
    replicas.start("configured")
    client = client_for(replicas)
    assert asyncio.run(run(client, call("configured", "run", 5))) == 10
    pid = replicas.processes["configured"][0].pid
    replicas.graph.write_text(replicas.graph.read_text().replace("{factor: 2}", "{factor: 3}"))
    ends = time.monotonic() + 10
    value = None
    while time.monotonic() < ends:
        value = asyncio.run(run(client_for(replicas), call("configured", "run", 5)))
        if value == 15:
            break
        time.sleep(0.2)
    assert value == 15
    assert replicas.processes["configured"][0].pid == pid
    assert replicas.processes["configured"][0].poll() is None


def test_a_change_that_needs_a_restart_is_logged_not_ignored(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    [address] = replicas.start("echo")
    edited = "{name: echo, class: testnodes:Echo, init: {unused: 1}}"
    replicas.graph.write_text(GRAPH.replace("{name: echo, class: testnodes:Echo}", edited))
    log = replicas.directory / f"echo-{address.rsplit(':', 1)[1]}.log"
    for _ in range(200):  # bounded: the replica polls the file every second
        if "restart the replica to apply it" in log.read_text():
            break
        time.sleep(0.1)
    assert (
        f'node "echo": init changed in {replicas.graph}; restart the replica to apply it '
        "(only userConfig reaches a running replica)"
    ) in log.read_text()
    assert asyncio.run(run(client_for(replicas), call("echo", "run", 4))) == 4


def test_readiness_waits_for_the_constructor(replicas_for: MakeReplicas, tmp_path: Path) -> None:
    manifest = GRAPH.replace("testnodes:Echo}", "testnodes:SlowStart, init: {seconds: 1.5}}", 1)
    replicas = replicas_for(manifest)
    [address] = replicas.start("echo", wait=False)
    with pytest.raises(TimeoutError):
        wait_serving(address, timeout=0.5)
    wait_serving(address, timeout=20)


def test_two_process_layout_worker_behind_a_unix_socket(
    replicas_for: MakeReplicas, tmp_path: Path
) -> None:
    replicas = replicas_for(GRAPH)
    sock = tmp_path / "worker.sock"
    worker = subprocess.Popen(
        [sys.executable, "-m", "braid", "--log-level", "WARNING", "worker", "--graph", str(replicas.graph),
         "--node", "configured", "--socket", str(sock), "--code-dir", str(HERE / "nodes"),
         "--peers", str(tmp_path / "peers.json"), "--drain-seconds", "0"],
    )  # fmt: skip
    try:
        replicas.start("configured", "--worker-socket", str(sock))
        assert asyncio.run(run(client_for(replicas), call("configured", "run", 4))) == 8
    finally:
        worker.terminate()
        worker.wait(10)


def test_new_calls_avoid_a_killed_replica(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    replicas.start("echo", replicas=2)
    victim = replicas.processes["echo"][0]
    victim.kill()
    victim.wait(5)

    async def scenario() -> list[Any]:
        client = client_for(replicas)
        return [await run(client, call("echo", "run", i)) for i in range(10)]

    assert asyncio.run(scenario()) == list(range(10))


def test_a_replica_still_constructing_refuses_calls_so_they_go_elsewhere(
    replicas_for: MakeReplicas, tmp_path: Path
) -> None:
    # A restarted replica listens while its constructor runs: a call it gets meanwhile must be
    # refused as never started (and so retried on another replica), not failed as unavailable.
    marker, release = tmp_path / "first", tmp_path / "release"
    slow = f"testnodes:SlowAfterFirst, init: {{marker: '{marker}', release: '{release}'}}}}"
    replicas = replicas_for(GRAPH.replace("testnodes:Echo}", slow, 1))
    replicas.start("echo")
    [starting] = replicas.start("echo", wait=False)
    wait_listening(starting)
    try:
        for number in range(5):
            request = call("echo", "run", number)
            assert asyncio.run(_run_at(client_for(replicas), request, starting)) == number
    finally:
        release.touch()


async def _run_at(client: ReplicaClient, request: CallRequest, address: str) -> Any:
    _, reply = await client.call(request, deadline=time.monotonic() + 10, address=address)
    return decode(reply.result)


def test_the_metrics_port_exports_per_step_metrics(replicas_for: MakeReplicas) -> None:
    replicas = replicas_for(GRAPH)
    port = replicas.reserve_port()
    replicas.start("echo", "--metrics-port", str(port))
    asyncio.run(run(client_for(replicas), call("echo", "run", 1, step="a")))
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert (
        'braid_requests_total{code="OK",graph="core",method="run",node="echo",step="a"} 1.0' in text
    )
    for name in (
        "braid_user_code_seconds",
        "braid_overhead_seconds",
        "braid_ongoing_requests",
        "braid_queued_requests",
    ):
        assert name in text
