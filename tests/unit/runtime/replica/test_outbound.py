"""The outbound caller as a node's handles use it: the request's id, headers and deadline go with
each call, the callee's response headers come back, and pending responses among the arguments
go by reference (served from the store) or, with no address to serve them at, by value."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from braid.runtime._proto.braid_pb2 import CallReply, CallRequest, StreamItem
from braid.runtime._replica.handles import CallContext, Response
from braid.runtime._replica.outbound import HANDLE_DEADLINE_STEP, OutboundCaller
from braid.runtime._replica.result_store import ResultStore
from braid.runtime._wire.codec import decode, encode


class RecordingClient:
    """Stands in for the ReplicaClient: keeps what is sent, answers ``items`` (one for a call,
    all of them for a stream) with ``headers`` on the reply or the first item."""

    def __init__(self, items: list[Any], headers: dict[str, str]) -> None:
        self.sent: list[tuple[CallRequest, float | None]] = []
        self._items, self._headers = items, headers

    async def call(self, request: CallRequest, *, deadline: float | None) -> tuple[str, CallReply]:
        self.sent.append((request, deadline))
        return "", CallReply(result=encode(self._items[0]), response_headers=self._headers)

    async def call_stream(
        self, request: CallRequest, *, deadline: float | None
    ) -> AsyncIterator[StreamItem]:
        self.sent.append((request, deadline))
        for index, item in enumerate(self._items):
            yield StreamItem(item=encode(item), response_headers={} if index else self._headers)


def node_caller(
    client: RecordingClient, store: ResultStore | None = None, address: str | None = None
) -> OutboundCaller:
    return OutboundCaller(
        caller="dispatcher",
        graph="shop",
        client=cast(Any, client),
        loop=asyncio.get_running_loop(),
        store=store,
        advertised_address=address,
    )


async def test_a_call_carries_the_requests_id_headers_and_a_shorter_deadline() -> None:
    client = RecordingClient(["fruit"], {"x-version": "v2"})
    out: dict[str, str] = {}
    context = CallContext("req-1", 100.0, headers={"x-tenant": "acme"}, response_headers=out)
    result = await node_caller(client).call(
        "fruit", "classify", (1,), {"hint": "plant"}, context, model_id="m1"
    )
    assert result == "fruit"
    ((request, deadline),) = client.sent
    assert (request.request_id, request.graph, request.node, request.method) == (
        "req-1",
        "shop",
        "fruit",
        "classify",
    )
    assert (request.caller, request.model_id, request.return_result) == ("dispatcher", "m1", True)
    assert decode(request.args) == [[1], {"hint": "plant"}]
    assert dict(request.context.headers) == {"x-tenant": "acme"}
    assert deadline == 100.0 - HANDLE_DEADLINE_STEP
    assert out == {"x-version": "v2"}


async def test_without_a_request_a_call_has_an_id_of_its_own_and_no_deadline() -> None:
    client = RecordingClient([3], {})
    assert await node_caller(client).call("fruit", "count", (), {}, None) == 3
    ((request, deadline),) = client.sent
    assert len(request.request_id) == 32 and deadline is None
    assert dict(request.context.headers) == {}


async def test_a_stream_yields_its_items_and_brings_back_the_first_items_headers() -> None:
    client = RecordingClient([1, 2, 3], {"x-version": "v2"})
    out: dict[str, str] = {}
    context = CallContext("req-1", 50.0, response_headers=out)
    items = [item async for item in node_caller(client).stream("car", "n", (3,), {}, context)]
    assert items == [1, 2, 3]
    ((request, deadline),) = client.sent
    assert request.request_id == "req-1" and deadline == 50.0 - HANDLE_DEADLINE_STEP
    assert out == {"x-version": "v2"}


async def test_a_pending_response_goes_by_reference_and_is_served_once_it_arrives() -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Event()

    async def later() -> int:
        await gate.wait()
        return 7

    pending = Response(later(), loop, node="downloader")
    store = ResultStore()
    client = RecordingClient([None], {})
    caller = node_caller(client, store, "10.0.0.5:7001")
    await caller.call("fruit", "f", (pending,), {"nested": [pending]}, None)
    ((request, _),) = client.sent
    assert [(u.address, u.key.startswith("handle/")) for u in request.upstreams] == [
        ("10.0.0.5:7001", True),
        ("10.0.0.5:7001", True),
    ]
    args = decode(request.args, upstream=lambda i: ("up", i), reference=lambda i: ("ref", i))
    assert args == [[("up", 0)], {"nested": [("ref", 1)]}]
    gate.set()
    payload = await store.fetch(request.upstreams[0].key, [], timeout=30)
    assert decode(payload) == 7


async def test_with_no_address_a_pending_response_is_awaited_and_sent_by_value() -> None:
    loop = asyncio.get_running_loop()

    async def value() -> str:
        return "image"

    client = RecordingClient([None], {})
    pending = Response(value(), loop, node="downloader")
    await node_caller(client, ResultStore()).call("fruit", "f", (pending,), {"n": [pending]}, None)
    ((request, _),) = client.sent
    assert list(request.upstreams) == []
    assert decode(request.args) == [["image"], {"n": ["image"]}]
