"""Local calls (decision 0025): unary calls over a real Unix socket, with gRPC's semantics:
replies, errors that keep their kind, refusals the caller may send elsewhere, deadlines and
cancellation that reach the callee, a callee that goes away, and large messages."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from braid.runtime._proto.braid_pb2 import CallReply, CallRequest, Payload
from braid.runtime._wire.errors import (
    DeadlineExceeded,
    ReplicaUnavailable,
    UserCodeError,
)
from braid.runtime._wire.local_calls import (
    CALL,
    LocalCallClient,
    LocalCallServer,
    NotReached,
    Refused,
    _frame,
    socket_path,
)

ADDRESS = "127.0.0.1:4000"

Handler = Callable[[CallRequest, float | None, str], Awaitable[CallReply]]


class Served:
    """A server on ``ADDRESS``'s socket, its client, and what the handler saw."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: list[tuple[CallRequest, float | None, str]] = []
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()
        self.orphans: list[CallReply] = []
        self.handler: Handler = self.echo
        self.server = LocalCallServer(socket_path(directory, ADDRESS), self._handle)
        self.client = LocalCallClient(directory, orphaned=self.orphans.append)

    async def _handle(self, request: CallRequest, seconds: float | None, domain: str) -> CallReply:
        self.seen.append((request, seconds, domain))
        try:
            return await self.handler(request, seconds, domain)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    async def echo(self, request: CallRequest, seconds: float | None, domain: str) -> CallReply:
        return CallReply(result=request.args)

    async def hangs(self, request: CallRequest, seconds: float | None, domain: str) -> CallReply:
        self.started.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    async def call(self, node: str = "n", *, seconds: float | None = 5.0) -> CallReply:
        request = CallRequest(node=node, step="s", method="m", args=Payload(header=b"42"))
        return await self.client.call(ADDRESS, request, seconds=seconds, domain="dom")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    served = Served(tmp_path)
    assert await served.server.start()
    yield served
    await served.client.close()
    await served.server.stop(grace=0)


async def test_a_call_gets_its_reply_and_the_callee_its_deadline_and_domain(
    served: Served,
) -> None:
    assert served.client.serves(ADDRESS)
    assert not served.client.serves("127.0.0.1:4001")  # no socket: gRPC, as before
    replies = await asyncio.gather(*(served.call(seconds=3.0) for _ in range(20)))
    assert [reply.result.header for reply in replies] == [b"42"] * 20  # multiplexed, in order
    request, seconds, domain = served.seen[0]
    assert (request.node, request.step, request.method) == ("n", "s", "m")
    assert seconds == 3.0 and domain == "dom"
    await served.call(seconds=None)
    assert served.seen[-1][1] is None


async def test_an_error_keeps_its_kind_node_step_and_the_users_exception(served: Served) -> None:
    async def fails(request: CallRequest, seconds: float | None, domain: str) -> CallReply:
        raise UserCodeError(
            'node "n" (step "s") raised ValueError: bad',
            node="n",
            step="s",
            exc_type="ValueError",
            exc_message="bad",
        )

    served.handler = fails
    with pytest.raises(UserCodeError) as caught:
        await served.call()
    assert isinstance(caught.value, ValueError)  # as over gRPC: the user's exception type
    assert (caught.value.node, caught.value.step) == ("n", "s")
    assert caught.value.message == 'node "n" (step "s") raised ValueError: bad'
    served.handler = served.echo
    assert (await served.call()).result.header == b"42"  # the connection serves on


async def test_a_refused_call_is_not_reached_so_the_caller_may_go_elsewhere(
    served: Served,
) -> None:
    async def refuses(request: CallRequest, seconds: float | None, domain: str) -> CallReply:
        raise Refused(ReplicaUnavailable('node "n" is still starting', node="n", step="s"))

    served.handler = refuses
    with pytest.raises(NotReached) as caught:
        await served.call()
    assert isinstance(caught.value.error, ReplicaUnavailable)
    assert caught.value.error.message == 'node "n" is still starting'


async def test_the_deadline_fails_the_call_and_cancels_the_callee(served: Served) -> None:
    served.handler = served.hangs
    with pytest.raises(DeadlineExceeded) as caught:
        await served.call("slow", seconds=0.2)
    assert caught.value.message == f'deadline exceeded waiting for node "slow" at {ADDRESS}'
    assert caught.value.node == "slow"
    await asyncio.wait_for(served.cancelled.wait(), 10)


async def test_a_caller_that_gives_up_cancels_the_callee(served: Served) -> None:
    served.handler = served.hangs
    task = asyncio.create_task(served.call())
    await asyncio.wait_for(served.started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(served.cancelled.wait(), 10)


async def test_a_reply_after_the_caller_gave_up_is_handed_back(served: Served) -> None:
    # Code that swallows the cancellation still answers; the caller frees what it names.
    async def stubborn(request: CallRequest, seconds: float | None, domain: str) -> CallReply:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        return CallReply(result=Payload(header=b"late"))

    served.handler = stubborn
    with pytest.raises(DeadlineExceeded):
        await served.call(seconds=0.2)
    for _ in range(100):
        if served.orphans:
            break
        await asyncio.sleep(0.05)
    assert [orphan.result.header for orphan in served.orphans] == [b"late"]


async def test_a_callee_that_goes_away_mid_call_fails_it_clearly(served: Served) -> None:
    served.handler = served.hangs
    task = asyncio.create_task(served.call("gone"))
    await asyncio.wait_for(served.started.wait(), 10)
    await served.server.stop(grace=0)
    with pytest.raises(ReplicaUnavailable) as caught:
        await task
    assert caught.value.message == (
        f'replica of node "gone" at {ADDRESS} is unavailable: the connection closed during the call'
    )
    assert not isinstance(caught.value, NotReached)  # it ran there: never retried elsewhere


async def test_a_dead_replicas_socket_is_not_reached(tmp_path: Path) -> None:
    path = socket_path(tmp_path, ADDRESS)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))  # bound, never listening: what a killed replica leaves behind
    client = LocalCallClient(tmp_path)
    assert client.serves(ADDRESS)
    with pytest.raises(NotReached) as caught:
        await client.call(ADDRESS, CallRequest(node="n", step="s"), seconds=5, domain="")
    assert caught.value.error.message.startswith(f'replica of node "n" at {ADDRESS} is unavailable')
    assert caught.value.error.step == "s"


async def test_a_stopping_replica_finishes_its_calls_and_refuses_new_ones(served: Served) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def waits(request: CallRequest, seconds: float | None, domain: str) -> CallReply:
        started.set()
        await release.wait()
        return CallReply(result=Payload(header=b"done"))

    served.handler = waits
    running = asyncio.create_task(served.call())
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(served.server.stop(grace=30))
    await asyncio.sleep(0.1)
    assert not socket_path(served.directory, ADDRESS).exists()  # new callers use gRPC
    with pytest.raises(NotReached, match="stopping"):  # one already connected goes elsewhere
        await served.call()
    release.set()
    assert (await running).result.header == b"done"
    await asyncio.wait_for(stopping, 10)


async def test_a_hundred_megabytes_cross_in_one_message(served: Served) -> None:
    blob = bytes(range(256)) * (100 * 1024 * 1024 // 256)
    request = CallRequest(node="n", args=Payload(header=b"[]", buffers=[blob]))
    reply = await served.client.call(ADDRESS, request, seconds=60, domain="")
    assert reply.result.buffers[0] == blob


async def test_a_malformed_frame_gets_an_error_and_the_socket_serves_on(served: Served) -> None:
    path = socket_path(served.directory, ADDRESS)
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(_frame(CALL, 7, b"\x00"))  # too short for a call's head
    head = await asyncio.wait_for(reader.readexactly(13), 10)
    body = await reader.readexactly(int.from_bytes(head[:4], "big"))
    assert head[4] == 4 and int.from_bytes(head[5:], "big") == 7  # ERROR, for call 7
    assert b"malformed local call" in body
    writer.close()
    assert (await served.call()).result.header == b"42"


async def test_a_path_too_long_for_a_socket_serves_nothing(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    server = LocalCallServer(socket_path(deep, ADDRESS), Served(tmp_path).echo)
    assert not await server.start()  # a warning; callers keep using gRPC
    assert not LocalCallClient(deep).serves(ADDRESS)
    await server.stop(grace=0)


def test_socket_paths_are_one_per_address(tmp_path: Path) -> None:
    assert socket_path(tmp_path, "127.0.0.1:4000").name == "127.0.0.1_4000.sock"
    assert socket_path(tmp_path, "[::1]:4000").name == "--1_4000.sock"
    assert socket_path(tmp_path, "127.0.0.1:4000") != socket_path(tmp_path, "127.0.0.1:4001")


async def test_a_successor_on_the_same_port_keeps_its_socket(tmp_path: Path) -> None:
    # braid run may start a replica's successor on its port while it still drains.
    old, new = Served(tmp_path), Served(tmp_path)
    assert await old.server.start()
    assert await new.server.start()  # takes the path over
    await old.server.stop(grace=0)
    assert socket_path(tmp_path, ADDRESS).exists()
    assert (await new.call()).result.header == b"42"
    await new.client.close()
    await new.server.stop(grace=0)
    assert not socket_path(tmp_path, ADDRESS).exists()
