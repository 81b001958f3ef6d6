"""Calls to replicas over gRPC: a channel per peer, deadlines, and error translation.

:class:`ChannelPool` keeps one ``grpc.aio`` channel per address (HTTP/2 multiplexes every call
to that replica over it) with no message-size ceiling. :class:`ReplicaClient` picks a replica
through the :class:`~braid.runtime._wire.routing.Router`, turns the request's absolute deadline into
a per-hop timeout, and translates every ``AioRpcError`` into a braid ``RequestError``. A call that
could not even connect is retried once on another replica; a call that reached a replica is
never retried, since user code may already have run.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from braid.runtime._proto.braid_pb2 import CallReply, CallRequest, FetchRequest, Payload, StreamItem
from braid.runtime._proto.braid_pb2_grpc import ReplicaStub
from braid.runtime._wire.errors import DeadlineExceeded, from_rpc_error, reached_peer
from braid.runtime._wire.routing import Router

#: Keepalive pings every 10 s notice dead peers during a long call.
KEEPALIVE_MS = 10_000
#: No 4 MB ceiling: braid carries 100 MB payloads and more. Keepalive pings notice dead peers.
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    ("grpc.keepalive_time_ms", KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.enable_retries", 0),
)
#: Options of every braid gRPC server (sidecars, workers, the ingress). The ping policy must
#: accept the clients' keepalive: gRPC's default (a ping without data at most every 5 minutes,
#: two strikes) answers braid's 10-second pings with GOAWAY "too_many_pings" after about 40 s
#: of a long call.
SERVER_OPTIONS: tuple[tuple[str, Any], ...] = (
    *CHANNEL_OPTIONS,
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", KEEPALIVE_MS // 2),
    ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_MS // 2),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.so_reuseport", 0),  # a second process on a busy port must fail, not share it
    ("grpc.max_concurrent_streams", 1000),
)
#: The health-service name a replica reports SERVING once its node's code is constructed.
REPLICA_SERVICE = "braid.v1.Replica"

# Words in a gRPC UNAVAILABLE status that mean the request never reached the replica.
_NOT_CONNECTED = ("failed to connect", "connection refused", "connect failed", "no route")


#: Seconds a hop's gRPC timeout runs past the request's deadline: the callee's own timer fires at
#: the deadline and answers with the node and step that were late, before gRPC's cuts the call.
DEADLINE_MARGIN = 0.5


def remaining(deadline: float | None, *, node: str = "", step: str = "") -> float | None:
    """The gRPC timeout of a hop towards ``deadline`` (``time.monotonic()`` based): the time
    left plus :data:`DEADLINE_MARGIN`; raises once the deadline passed."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the request's deadline passed", node=node, step=step)
    return left + DEADLINE_MARGIN


def deadline_of(time_remaining: float | None) -> float | None:
    """The request's deadline on the callee's side of a hop (see :func:`remaining`)."""
    if time_remaining is None:
        return None
    return time.monotonic() + time_remaining - DEADLINE_MARGIN


class ChannelPool:
    """One ``grpc.aio`` channel, and one stub, per replica address."""

    def __init__(self, options: Sequence[tuple[str, Any]] = CHANNEL_OPTIONS) -> None:
        self._options = list(options)
        self._stubs: dict[str, ReplicaStub] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}

    def stub(self, address: str) -> ReplicaStub:
        stub = self._stubs.get(address)
        if stub is None:
            channel = grpc.aio.insecure_channel(address, options=self._options)
            self._channels[address] = channel
            stub = self._stubs[address] = ReplicaStub(channel)  # type: ignore[no-untyped-call]
        return stub

    async def close(self) -> None:
        channels, self._channels, self._stubs = self._channels, {}, {}
        for channel in channels.values():
            await channel.close(grace=None)


class ReplicaClient:
    """Calls steps and handle methods on replicas, and fetches results from them."""

    def __init__(self, router: Router, pool: ChannelPool) -> None:
        self.router = router
        self._pool = pool

    async def call(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> tuple[str, CallReply]:
        """Run ``request`` on a replica of ``request.node``; returns the address and the reply."""
        tried: list[str] = []
        while True:
            target = address or self.router.choose(request.node, exclude=tried)
            timeout = remaining(deadline, node=request.node, step=request.step)
            try:
                with self.router.tracking(target):
                    reply: CallReply = await self._pool.stub(target).Call(request, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                error = from_rpc_error(exc, address=target, node=request.node, step=request.step)
                if address is None and not tried and self._never_connected(exc, target):
                    tried.append(target)
                    continue
                raise error from exc
            self.router.mark_up(target)
            return target, reply

    async def call_stream(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> AsyncIterator[StreamItem]:
        """Run a streaming ``request``; yields items as the replica produces them."""
        target = address or self.router.choose(request.node)
        timeout = remaining(deadline, node=request.node, step=request.step)
        with self.router.tracking(target):
            call = self._pool.stub(target).CallStream(request, timeout=timeout)
            try:
                async for item in call:
                    yield item
            except grpc.aio.AioRpcError as exc:
                self._never_connected(exc, target)
                raise from_rpc_error(
                    exc, address=target, node=request.node, step=request.step
                ) from exc
            finally:
                call.cancel()

    async def fetch(
        self, address: str, key: str, path: Sequence[str], *, deadline: float | None, node: str = ""
    ) -> Payload:
        """Fetch the result stored under ``key`` at ``address``, waiting until it is ready."""
        timeout = remaining(deadline, node=node)
        try:
            reply = await self._pool.stub(address).Fetch(
                FetchRequest(key=key, path=list(path)), timeout=timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, address=address, node=node) from exc
        value: Payload = reply.value
        return value

    def _never_connected(self, exc: grpc.aio.AioRpcError, address: str) -> bool:
        """Whether ``exc`` says the request never reached ``address`` (then mark it down)."""
        if exc.code() != grpc.StatusCode.UNAVAILABLE or reached_peer(exc):
            return False
        details = (exc.details() or "").lower()
        if any(words in details for words in _NOT_CONNECTED):
            self.router.mark_down(address)
            return True
        return False
