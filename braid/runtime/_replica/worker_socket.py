"""The sidecar's side of the two-container layout: forwarding calls to a worker over a socket.

In a pod, the node's code runs in the model container as ``braid worker``, which serves
``braid.v1.Replica`` on a Unix socket in an emptyDir shared with the sidecar container. The
sidecar resolves top-level upstream arguments itself and forwards the call's payload and the
resolved upstream payloads untouched, never decoding them (decision 0012), so the worker never
talks to peers for step inputs; the worker's result comes back the same way. With a shared
memory folder (an emptyDir with ``medium: Memory`` mounted in both containers), large buffers
cross the socket as shared-memory references. Two things cross the socket by reference:

- a response passed by reference (``$ref``) goes on to the worker as the same reference, so that
  the user's code receives a response it awaits itself, fetched from the producer's sidecar;
- a response that the worker's user code passes on unawaited is kept in the worker under a key
  that starts with :data:`WORKER_KEY_PREFIX`; the worker advertises its sidecar's address, and
  the sidecar forwards peers' fetches of such keys to the worker.

The sidecar also watches its worker (:meth:`SocketExecutor.watch`): a worker that dies, hangs
or stops answering turns the replica NOT_SERVING, and the replica refuses calls, so that callers
go to another replica, until the worker answers again. See
docs/decisions/0005-sidecar-and-worker.md for the measured cost of this hop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from braid.runtime._proto.braid_pb2 import CallRequest, FetchRequest, Payload
from braid.runtime._proto.braid_pb2_grpc import ReplicaStub
from braid.runtime._replica.arguments import Arguments, EncodedResult
from braid.runtime._replica.handles import current_call
from braid.runtime._wire import tracing
from braid.runtime._wire.client import (
    CHANNEL_OPTIONS,
    REPLICA_SERVICE,
    models_of,
    never_reached,
)
from braid.runtime._wire.errors import ReplicaUnavailable, from_rpc_error
from braid.runtime._wire.shared_memory import DOMAIN_KEY, SharedMemory

logger = logging.getLogger(__name__)

#: Keys of values held by a worker for peers (responses its user code passed on unawaited).
WORKER_KEY_PREFIX = "worker/"

#: The socket is local: reconnect at once after a worker restart, not after gRPC's default
#: back-off of up to two minutes, so that a replica serves again as soon as its worker does.
_SOCKET_OPTIONS: tuple[tuple[str, Any], ...] = (
    *CHANNEL_OPTIONS,
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
)


class WorkerUnreachable(ReplicaUnavailable):
    """The worker did not take the call at all (not connected): nothing of the user's ran.

    The sidecar answers it as a refusal, so that the caller sends the call to another replica;
    it never crosses a hop as itself.
    """


#: How often the sidecar checks its worker, and how long a check may take. A worker that does
#: not answer within the timeout counts as down (a hung or stopped process).
WATCH_INTERVAL_SECONDS = 0.5
WATCH_TIMEOUT_SECONDS = 1.0


class SocketExecutor:
    """Runs methods in a ``braid worker`` process reached over a Unix socket."""

    def __init__(self, node: str, socket: Path, *, shared: SharedMemory | None = None) -> None:
        self.node = node
        self._shared = shared
        self._metadata = ((DOMAIN_KEY, shared.domain),) if shared is not None else None
        self._target = f"unix:{socket}"
        self._channel = grpc.aio.insecure_channel(self._target, options=list(_SOCKET_OPTIONS))
        self._stub = ReplicaStub(self._channel)  # type: ignore[no-untyped-call]
        self._health = health_pb2_grpc.HealthStub(self._channel)
        #: The models the worker reported holding after its last call (multiplexing).
        self._models: list[str] = []

    async def wait_ready(self, timeout: float = 600.0) -> None:  # noqa: ASYNC109
        """Wait until the worker has constructed the node's class (its readiness)."""
        ends = time.monotonic() + timeout
        while time.monotonic() < ends:
            if await self.serving(2.0):
                return
            await asyncio.sleep(0.2)
        raise ReplicaUnavailable(
            f'the worker of node "{self.node}" at {self._target} never became ready', node=self.node
        )

    async def serving(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Whether the worker answers its health check as SERVING within ``timeout``."""
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=REPLICA_SERVICE), timeout=timeout
            )
        except grpc.aio.AioRpcError:
            return False
        serving: bool = reply.status == health_pb2.HealthCheckResponse.SERVING
        return serving

    async def watch(self, changed: Callable[[bool], Awaitable[None]]) -> None:
        """Check the worker for ever; await ``changed(up)`` when it goes down or comes back."""
        up = True
        while True:
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
            now = await self.serving(WATCH_TIMEOUT_SECONDS)
            if now != up:
                up = now
                await changed(up)

    async def fetch(self, request: FetchRequest, timeout: float | None) -> Payload:  # noqa: ASYNC109
        """A value the worker holds for a peer (see :data:`WORKER_KEY_PREFIX`)."""
        try:
            reply = await self._stub.Fetch(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, address=self._target, node=self.node) from exc
        value: Payload = reply.value
        return value

    def _request(
        self, method: str, arguments: Arguments, step: str
    ) -> tuple[CallRequest, float | None]:
        context = current_call.get()
        payload, upstreams = arguments.forward()
        request = CallRequest(
            request_id=context.request_id if context else "",
            node=self.node,
            method=method,
            step=step,
            args=payload,
            upstreams=upstreams,
            return_result=True,
            caller="sidecar",
            model_id=context.model_id if context else "",
        )
        if context is not None and context.headers:
            request.context.headers.update(context.headers)
        tracing.inject(request)  # the worker's span of the call is a child of the sidecar's
        timeout = None
        if context is not None and context.deadline is not None:
            timeout = max(context.deadline - time.monotonic(), 0.001)
        return request, timeout

    async def call(self, method: str, arguments: Arguments, step: str) -> EncodedResult:
        request, timeout = self._request(method, arguments, step)
        if self._shared is not None:
            self._shared.offload(request)
        try:
            reply = await self._stub.Call(request, timeout=timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            error = self._error(exc)
            if not isinstance(error, WorkerUnreachable):
                self._release(request)  # else the call goes to another replica as it is
            raise error from exc
        self._release(request)
        self._models = list(reply.models)
        _note_headers(reply.response_headers)
        return EncodedResult(reply.result, self._shared)

    def _release(self, request: CallRequest) -> None:
        """The worker is done with the call: what it did not read, nobody will."""
        if self._shared is not None:
            self._shared.release_message(request)

    async def stream(
        self, method: str, arguments: Arguments, step: str
    ) -> AsyncIterator[tuple[EncodedResult, bool]]:
        request, timeout = self._request(method, arguments, step)
        if self._shared is not None:
            self._shared.offload(request)
        call = self._stub.CallStream(request, timeout=timeout, metadata=self._metadata)
        try:
            first = True
            async for item in call:
                if first and request.model_id:
                    self._models = models_of(await call.initial_metadata()) or self._models
                if first:
                    _note_headers(item.response_headers)
                first = False
                yield EncodedResult(item.item, self._shared), item.final
        except grpc.aio.AioRpcError as exc:
            raise self._error(exc) from exc
        finally:
            call.cancel()
            self._release(request)

    def _error(self, exc: grpc.aio.AioRpcError) -> ReplicaUnavailable | Exception:
        if never_reached(exc):
            return WorkerUnreachable(
                f'the worker of node "{self.node}" is not answering ({exc.details()}); '
                "try another replica",
                node=self.node,
            )
        return from_rpc_error(exc, address=self._target, node=self.node)

    async def reconfigure(self, user_config: Any) -> None:
        return None  # the worker watches the graph file itself

    def loaded_models(self) -> list[str]:
        return self._models

    async def close(self) -> None:
        await self._channel.close(grace=None)


def _note_headers(headers: Mapping[str, str]) -> None:
    """Response headers the worker's code set: they belong to the call this sidecar runs."""
    context = current_call.get()
    if headers and context is not None:
        context.response_headers.update(headers)
