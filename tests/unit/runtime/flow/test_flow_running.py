"""The flow runner against a fake replica client: dispatch, continuations, errors, deadlines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._flow.planning import plan_flow
from braid.runtime._flow.running import FlowRunner
from braid.runtime._proto.braid_pb2 import CallReply, CallRequest, Payload, StreamItem
from braid.runtime._wire.client import ReplicaClient
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import (
    DeadlineExceeded,
    ReplicaUnavailable,
    RequestError,
    StreamingOutput,
    UpstreamFailed,
    UserCodeError,
)
from braid.runtime._wire.routing import Router
from braid.spec import load_graph

EXAMPLES = Path(__file__).parents[4] / "examples"


class FakeClient:
    """Records calls; ``behaviour`` maps a step to a value, an error, or an item list."""

    def __init__(self, nodes: Sequence[str], behaviour: dict[str, Any]) -> None:
        self.router = Router(StaticDiscovery({node: [f"{node}:1"] for node in nodes}))
        self.behaviour = behaviour
        self.calls: list[CallRequest] = []
        self.cancelled: list[str] = []
        self.shared = None  # no shared memory: every value inline (decision 0012)
        #: Nodes with a replica in this process (decision 0024), and its address.
        self.local: dict[str, str] = {}

    def local_choice(self, node: str) -> str | None:
        return self.local.get(node)

    async def _result(self, request: CallRequest) -> Any:
        self.calls.append(request)
        outcome = self.behaviour.get(request.step)
        try:
            if isinstance(outcome, float):  # a slow step
                await asyncio.sleep(outcome)
            if isinstance(outcome, BaseException):
                raise outcome
        except asyncio.CancelledError:
            self.cancelled.append(request.step)
            raise
        return outcome

    async def call(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> tuple[str, CallReply]:
        value = await self._result(request)
        reply = CallReply(result=encode(value)) if request.return_result else CallReply()
        for follow in request.then:
            reply.then.append((await self.call(follow, deadline=deadline))[1])
        return address or "", reply

    async def call_stream(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> AsyncIterator[StreamItem]:
        value = await self._result(request)
        if isinstance(value, list) and value and value[0] == "stream":
            for item in value[1:]:
                yield StreamItem(item=encode(item))
        else:
            yield StreamItem(item=encode(value), final=True)

    async def fetch(self, *args: Any, **kwargs: Any) -> Payload:
        raise AssertionError("no fetch expected")


def runner(
    example: str, behaviour: dict[str, Any], file: str = "graph.yaml"
) -> tuple[FlowRunner, FakeClient]:
    graph = load_graph(EXAMPLES / example / file)
    client = FakeClient([node.name for node in graph.spec.nodes], behaviour)
    return FlowRunner(plan_flow(graph), cast(ReplicaClient, client)), client


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


async def test_every_step_is_sent_at_once_then_as_continuations() -> None:
    flow, client = runner("chain", {"sum": 6, "product": 12})
    result = await flow.start(5, deadline=soon())
    assert not result.streaming and decode(result.value.payload) == 12
    first = {request.step: request for request in client.calls}
    assert set(first) == {"sum", "product"}
    assert first["sum"].result_key.endswith("/sum") and first["sum"].consumers == 1
    assert list(first["product"].upstreams[0].path) == []
    assert first["product"].upstreams[0].address == "adder:1"
    client.calls.clear()
    result = await flow.start(5, deadline=soon())  # now known unary: product rides in sum
    assert decode(result.value.payload) == 12
    assert [request.step for request in client.calls] == ["sum", "product"]
    assert client.calls[0].then[0].address == "multiplier:1"
    assert client.calls[0].consumers == 0 and not client.calls[0].result_key


async def test_a_replica_in_this_process_is_chosen_first() -> None:
    flow, client = runner("chain", {"sum": 6, "product": 12})
    client.local["adder"] = "ingress:7"
    result = await flow.start(5, deadline=soon())
    assert decode(result.value.payload) == 12
    sent = {request.step: request for request in client.calls}
    assert sent["product"].upstreams[0].address == "ingress:7"  # its result is fetched there
    client.calls.clear()
    client.local.clear()  # it stepped aside (wedged): the router's replicas again
    await flow.start(5, deadline=soon())
    assert client.calls[0].then[0].address == "multiplier:1"
    assert [request.step for request in client.calls] == ["sum", "product"]


async def test_a_join_carries_its_producers_and_their_origin_error_fails_the_request() -> None:
    origin = UserCodeError("boom", node="length", step="by-length")
    flow, client = runner("ensemble", {"verdict": UpstreamFailed(origin)})
    with pytest.raises(UserCodeError) as caught:
        await flow.start("text", deadline=soon())
    assert (caught.value.node, caught.value.step) == ("length", "by-length")
    (sent,) = client.calls  # the join's sidecar calls its producers itself
    nested = {u.call.step: u for u in sent.upstreams}
    assert set(nested) == {"by-length", "by-vowels", "by-caps"}
    assert nested["by-caps"].address == nested["by-caps"].call.address == "caps:1"
    assert all(u.call.return_result and not u.call.result_key for u in nested.values())


async def test_the_deadline_bounds_a_slow_step() -> None:
    flow, client = runner("chain", {"sum": 10.0, "product": 10.0})
    with pytest.raises(DeadlineExceeded):
        await flow.start(5, deadline=soon(0.2))
    await asyncio.sleep(0)
    assert {"sum", "product"} <= set(client.cancelled)


async def test_a_streaming_output_is_read_item_by_item() -> None:
    flow, _ = runner("streaming", {"numbers": ["stream", 0, 1, 2]})
    result = await flow.start(3, deadline=soon())
    assert result.streaming
    assert [decode(item.payload) async for item in result.items()] == [0, 1, 2]
    with pytest.raises(StreamingOutput, match="InvokeStream"):
        await flow.start(3, deadline=soon(), allow_stream=False)


async def test_declarative_dispatch_sends_only_the_chosen_case() -> None:
    flow, client = runner("dispatch", {"greeting": "Bonjour Dora"}, "graph-declarative.yaml")
    result = await flow.start({"language": "french", "name": "Dora"}, deadline=soon())
    assert decode(result.value.payload) == "Bonjour Dora"
    assert [(r.node, r.method) for r in client.calls] == [("french", "say_hello")]
    assert decode(client.calls[0].args) == [["Dora"], {}]


async def test_no_replica_is_a_503_before_anything_is_sent() -> None:
    flow, client = runner("chain", {})
    client.router = Router(StaticDiscovery({"adder": ["a:1"]}))
    with pytest.raises(ReplicaUnavailable, match="multiplier"):
        await flow.start(5, deadline=soon())
    assert client.calls == []
    assert isinstance(ReplicaUnavailable("x"), RequestError)
