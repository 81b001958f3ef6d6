"""Calls to replicas over gRPC: a channel per peer, deadlines, and error translation.

:class:`ChannelPool` keeps one ``grpc.aio`` channel per address (HTTP/2 multiplexes every call
to that replica over it) with no message-size ceiling. :class:`ReplicaClient` picks a replica
through the :class:`~braid.runtime._wire.routing.Router`, turns the request's absolute deadline into
a per-hop timeout, and translates every ``AioRpcError`` into a braid ``RequestError``. A call that
could not even connect is retried once on another replica; a call that reached a replica is
never retried, since user code may already have run.

A replica hosted in the caller's own process (``braid run --entry-in-ingress``: the flow's
entry replica inside the ingress, docs/decisions/0024-entry-in-ingress.md) is a
:class:`LocalReplica` registered with :meth:`ReplicaClient.host_locally`: unary calls to its
address are plain coroutine calls, with no gRPC and no serialization; everything else (streams,
fetches) still goes over gRPC to the address it serves.

With a :class:`~braid.runtime._wire.local_calls.LocalCallClient` (``braid run``: every process
on one host), unary calls to a replica that serves a Unix socket go over it instead of gRPC
(docs/decisions/0025-local-calls.md), with the same retries, deadlines and errors.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import grpc

from braid.runtime._proto.braid_pb2 import CallReply, CallRequest, FetchRequest, Payload, StreamItem
from braid.runtime._proto.braid_pb2_grpc import ReplicaStub
from braid.runtime._wire import tracing
from braid.runtime._wire.errors import (
    CodecError,
    DeadlineExceeded,
    ReplicaUnavailable,
    RequestError,
    from_rpc_error,
    reached_peer,
)
from braid.runtime._wire.local_calls import LocalCallClient, NotReached
from braid.runtime._wire.routing import Router
from braid.runtime._wire.shared_memory import DOMAIN_KEY, Message, SharedMemory

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
    # No cap on streams per connection (gRPC's default): a capped server refuses the streams a
    # client opens beyond it before it has seen the cap (RST_STREAM REFUSED_STREAM), which
    # reaches the caller as UNAVAILABLE. braid bounds calls itself, with a retry hint: each
    # replica's admission (maxOngoingRequests, maxQueuedRequests), and the ingress's cap per
    # client connection (MAX_CALLS_PER_CONNECTION in _ingress/grpc_service.py).
    # gRPC's core also cancels calls (CANCELLED, never seen by braid) once more than 1,000 wait
    # for the application to pick them up: a burst of 1,500 on one channel lost about 50. Let
    # the burst through to braid's own limits, which answer with a code and a retry hint.
    ("grpc.server.max_pending_requests", 10_000),
    ("grpc.server.max_pending_requests_hard_limit", 30_000),
)


def server_options(*, reuse_port: bool = False) -> list[tuple[str, Any]]:
    """:data:`SERVER_OPTIONS`, sharing the port with the launcher's reservation if asked
    (``braid run`` binds each port first and hands it over; see ``_local/ports.py``)."""
    options = list(SERVER_OPTIONS)
    if reuse_port:
        options = [(k, v) for k, v in options if k != "grpc.so_reuseport"]
        options.append(("grpc.so_reuseport", 1))
    return options


#: The health-service name a replica reports SERVING once its node's code is constructed.
REPLICA_SERVICE = "braid.v1.Replica"
#: Initial metadata of a streaming call for a model (multiplexing): the JSON list of the model
#: ids the replica holds, as ``CallReply.models`` carries them for unary calls.
MODELS_KEY = "braid-models"


def models_of(metadata: Sequence[tuple[str, Any]] | None) -> list[str] | None:
    """The model ids in a call's :data:`MODELS_KEY` metadata, or None without it."""
    for key, value in metadata or ():
        if key == MODELS_KEY:
            try:
                found = json.loads(value)
            except ValueError:
                return None
            return [str(item) for item in found] if isinstance(found, list) else None
    return None


#: Trailing metadata of a call that a replica refused before running anything (its worker is
#: down): the caller may send it to another replica, as if it had never connected.
NOT_STARTED_KEY = "braid-not-started"

# Words in a gRPC UNAVAILABLE status that mean the request never reached the replica.
_NOT_CONNECTED = ("failed to connect", "connection refused", "connect failed", "no route")


def never_reached(exc: grpc.aio.AioRpcError) -> bool:
    """Whether a failed call never ran on its replica: no connection, or refused up front.

    A braid peer that answered with an error did receive the call (its user code may have run),
    unless it says it refused the call before running anything.
    """
    if exc.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    if any(key == NOT_STARTED_KEY for key, _ in exc.trailing_metadata() or ()):
        return True
    if reached_peer(exc):
        return False
    details = (exc.details() or "").lower()
    return any(words in details for words in _NOT_CONNECTED)


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
        self._closing: set[asyncio.Task[None]] = set()

    def stub(self, address: str) -> ReplicaStub:
        stub = self._stubs.get(address)
        if stub is None:
            channel = grpc.aio.insecure_channel(address, options=self._options)
            self._channels[address] = channel
            stub = self._stubs[address] = ReplicaStub(channel)  # type: ignore[no-untyped-call]
        return stub

    def reset(self, address: str) -> None:
        """Forget the channel to ``address`` after a failed connect: a gRPC channel stays in
        reconnect backoff for up to seconds and fails every call meanwhile, even once the
        replica is back (a restart on the same port); the next call dials afresh."""
        self._stubs.pop(address, None)
        channel = self._channels.pop(address, None)
        if channel is not None:
            task = asyncio.get_running_loop().create_task(channel.close(grace=None))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        channels, self._channels, self._stubs = self._channels, {}, {}
        for channel in channels.values():
            await channel.close(grace=None)


class LocalReplica(Protocol):
    """A replica hosted in the caller's process, called without gRPC."""

    #: The address it also serves gRPC on (where its stored results are fetched from).
    address: str

    def hosts(self, node: str) -> bool:
        """Whether it hosts ``node`` and takes calls now (not starting, wedged or stopping)."""
        ...

    async def call(self, request: CallRequest, deadline: float | None) -> CallReply:
        """Run ``request`` as the replica's ``Call`` would, raising a ``RequestError``."""
        ...


class ReplicaClient:
    """Calls steps and handle methods on replicas, and fetches results from them.

    With ``shared`` (every replica it calls shares that folder: ``braid run``), large buffers
    go through shared memory, both ways (docs/decisions/0012-bulk-payloads.md).
    """

    def __init__(
        self,
        router: Router,
        pool: ChannelPool,
        *,
        shared: SharedMemory | None = None,
        local_calls: LocalCallClient | None = None,
    ) -> None:
        self.router = router
        self._pool = pool
        self.shared = shared
        self._metadata = ((DOMAIN_KEY, shared.domain),) if shared is not None else None
        self._domain = shared.domain if shared is not None else ""
        self._local_calls = local_calls
        self._local: dict[str, LocalReplica] = {}

    def host_locally(self, replica: LocalReplica) -> None:
        """Call ``replica`` in process from now on (see the module docstring)."""
        self._local[replica.address] = replica

    def local_choice(self, node: str) -> str | None:
        """The address of an in-process replica of ``node`` that takes calls now, or None."""
        for address, replica in self._local.items():
            if replica.hosts(node):
                return address
        return None

    async def call(
        self,
        request: CallRequest,
        *,
        deadline: float | None,
        address: str | None = None,
        absorb: bool = True,
    ) -> tuple[str, CallReply]:
        """Run ``request`` on a replica of ``request.node``; returns the address and the reply.

        ``absorb=False`` leaves buffers that the reply carries in shared memory (a sidecar
        passing its continuations' replies back to its own caller)."""
        local = self._local.get(address) if address and self._local else None
        if local is not None:  # in process: no message crosses a wire, nothing to offload
            reply = await local.call(request, deadline)
            if absorb:
                self._absorb(reply, request.node, request.step)
            return address or local.address, reply
        if self.shared is not None:
            self.shared.offload(request)
        tracing.inject(request)
        try:
            target, reply = await self._call(request, deadline, address)
        except BaseException:
            if self.shared is not None:  # whatever the callee did not read, nobody will
                self.shared.release_message(request)
            raise
        if absorb:
            self._absorb(reply, request.node, request.step)
        return target, reply

    def _absorb(self, message: Message, node: str, step: str = "") -> None:
        if self.shared is None:
            return
        try:
            self.shared.absorb(message)
        except CodecError as exc:
            raise RequestError(
                f'the reply of node "{node}" could not be read: {exc.message}', node=node, step=step
            ) from exc

    async def _call(
        self, request: CallRequest, deadline: float | None, address: str | None
    ) -> tuple[str, CallReply]:
        tried: list[str] = []
        metadata = self._metadata
        while True:
            target = address or await self._choose(request, tried, deadline)
            timeout = remaining(deadline, node=request.node, step=request.step)
            local = self._local_calls
            try:
                with self.router.tracking(target):
                    if local is not None and local.serves(target):
                        reply = await local.call(
                            target, request, seconds=timeout, domain=self._domain
                        )
                    else:
                        reply = await self._pool.stub(target).Call(
                            request, timeout=timeout, metadata=metadata
                        )
            except NotReached as exc:  # as _never_connected below, without gRPC
                self.router.mark_down(target)
                if (address is None or not request.result_key) and not tried:
                    tried.append(target)
                    address = None
                    continue
                raise exc.error from None
            except grpc.aio.AioRpcError as exc:
                error = from_rpc_error(exc, address=target, node=request.node, step=request.step)
                # A call that never ran may go elsewhere, unless a consumer will fetch its
                # result from the replica that was chosen for it.
                movable = address is None or not request.result_key
                if movable and not tried and self._never_connected(exc, target):
                    tried.append(target)
                    address = None
                    continue
                raise error from exc
            self.router.mark_up(target)
            self._note_models(request, target, reply)
            return target, reply

    def _note_models(self, request: CallRequest, address: str, reply: CallReply) -> None:
        """Tell the router which models the replicas of this call and of its continuations
        hold now (multiplexing: only calls that name a model carry them)."""
        if request.model_id:
            self.router.note_models(address, reply.models)
        for follow, answer in zip(request.then, reply.then, strict=False):
            if follow.address:
                self._note_models(follow, follow.address, answer)

    async def call_stream(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> AsyncIterator[StreamItem]:
        """Run a streaming ``request``; yields items as the replica produces them."""
        tried: list[str] = []
        if self.shared is not None:
            self.shared.offload(request)
        tracing.inject(request)
        while True:
            target = address or await self._choose(request, tried, deadline)
            timeout = remaining(deadline, node=request.node, step=request.step)
            started = False
            with self.router.tracking(target):
                call = self._pool.stub(target).CallStream(
                    request, timeout=timeout, metadata=self._metadata
                )
                try:
                    async for item in call:
                        if not started and request.model_id:
                            models = models_of(await call.initial_metadata())
                            if models is not None:
                                self.router.note_models(target, models)
                        started = True
                        self._absorb(item, request.node, request.step)
                        yield item
                    return
                except grpc.aio.AioRpcError as exc:
                    never = self._never_connected(exc, target)
                    if never and not started and address is None and not tried:
                        tried.append(target)  # nothing reached it: once more, elsewhere
                        continue
                    if self.shared is not None:
                        self.shared.release_message(request)
                    raise from_rpc_error(
                        exc, address=target, node=request.node, step=request.step
                    ) from exc
                finally:
                    call.cancel()

    async def fetch(
        self,
        address: str,
        key: str,
        path: Sequence[str],
        *,
        deadline: float | None,
        node: str = "",
        absorb: bool = True,
    ) -> Payload:
        """Fetch the result stored under ``key`` at ``address``, waiting until it is ready.
        ``absorb=False``: buffers in shared memory stay there, for the caller to read."""
        timeout = remaining(deadline, node=node)
        try:
            with tracing.fetch_span(key.rpartition("/")[2]):
                reply = await self._pool.stub(address).Fetch(
                    FetchRequest(key=key, path=list(path)),
                    timeout=timeout,
                    metadata=tracing.metadata(self._metadata),
                )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, address=address, node=node) from exc
        if absorb:
            self._absorb(reply, node)
        value: Payload = reply.value
        return value

    async def _choose(
        self, request: CallRequest, tried: Sequence[str], deadline: float | None
    ) -> str:
        """A replica for ``request`` other than ``tried``, after waiting a while if the node
        has none ready (all of them restarting)."""
        try:
            return await self.router.wait_choose(
                request.node, deadline=deadline, exclude=tried, model_id=request.model_id
            )
        except ReplicaUnavailable as exc:
            exc.step = exc.step or request.step
            raise

    def _never_connected(self, exc: grpc.aio.AioRpcError, address: str) -> bool:
        """Whether ``exc`` says the request never reached ``address`` (then mark it down)."""
        if never_reached(exc):
            self.router.mark_down(address)
            self._pool.reset(address)
            return True
        return False
