"""The sidecar's gRPC service: runs its node's steps and serves results to peers.

One :class:`ReplicaService` per replica implements ``braid.v1.Replica``:

- ``Call``/``CallStream`` run a step or a handle call. Admission comes first: beyond
  ``maxOngoingRequests`` running plus ``maxQueuedRequests`` waiting, a call is refused at once
  with RESOURCE_EXHAUSTED and a retry hint, never queued without bound. Then the call's upstream
  arguments are fetched from the producers' sidecars, concurrently and peer to peer, without
  holding a run slot (so a step waiting for its inputs never blocks a step that could run). Then
  the node's code runs in a slot, under the request's deadline and id (a context variable, for
  handle calls it makes). The result goes back to the caller and/or into the result store for
  the flow's consumers.
- ``Fetch`` hands a stored result (or a field of it) to a consumer, waiting until it is ready.

A failure is stored in place of the result, so that consumers fail with the origin's error
(naming its node and step) instead of receiving an error body as a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from braid.runtime._client import ReplicaClient
from braid.runtime._codec import decode, encode
from braid.runtime._errors import (
    Cancelled,
    CodecError,
    DeadlineExceeded,
    Overloaded,
    ReplicaUnavailable,
    RequestError,
    UpstreamFailed,
    UserCodeError,
    code_of,
    error_metadata,
)
from braid.runtime._executors import Executor
from braid.runtime._handles import CallContext, RemoteResponse, current_call
from braid.runtime._metrics import SidecarMetrics
from braid.runtime._proto import braid_pb2_grpc
from braid.runtime._proto.braid_pb2 import (
    CallReply,
    CallRequest,
    FetchReply,
    FetchRequest,
    StreamItem,
    Upstream,
)
from braid.runtime._results import ResultStore

logger = logging.getLogger(__name__)

_REFERENCE_MARKER = re.compile(rb'\{"\$ref":(\d+)\}')


class Admission:
    """Bounded concurrency: ``max_ongoing`` run at once, ``max_queued`` more may wait."""

    def __init__(self, max_ongoing: int, max_queued: int) -> None:
        self.max_ongoing = max_ongoing
        self._limit = max_ongoing + max_queued
        self._slots = asyncio.Semaphore(max_ongoing)
        self.admitted = 0
        self.running = 0

    @property
    def queued(self) -> int:
        return self.admitted - self.running

    def admit(self, node: str, step: str) -> None:
        if self.admitted >= self._limit:
            raise Overloaded(
                f'node "{node}" is overloaded ({self.running} running, {self.queued} queued); '
                "retry shortly",
                node=node,
                step=step,
                retry_after=1.0,
            )
        self.admitted += 1

    def leave(self) -> None:
        self.admitted -= 1

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            self.running += 1
            try:
                yield
            finally:
                self.running -= 1


class ReplicaService(braid_pb2_grpc.ReplicaServicer):
    """``braid.v1.Replica`` for one replica of one node."""

    def __init__(
        self,
        *,
        graph: str,
        node: str,
        client: ReplicaClient,
        store: ResultStore,
        admission: Admission,
        metrics: SidecarMetrics,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.graph, self.node = graph, node
        self.executor: Executor | None = None
        self._client, self._store, self._admission, self._metrics = (
            client,
            store,
            admission,
            metrics,
        )
        self._loop = loop

    # -- Replica API -------------------------------------------------------------------------

    async def Call(self, request: CallRequest, context: grpc.aio.ServicerContext) -> CallReply:
        started = time.perf_counter()
        timings = _Timings()
        try:
            executor = self._admit(request)
            try:
                args, kwargs = await self._arguments(request, _deadline(context), timings)
                async with self._admission.slot():
                    self._gauges()
                    value = await self._run(
                        executor.call(request.method, args, kwargs, request.step),
                        request,
                        context,
                        timings,
                    )
                payload = self._encode(value, request)
                if request.result_key:
                    self._store.put(request.result_key, payload, request.consumers, value=value)
            finally:
                self._admission.leave()
                self._gauges()
        except RequestError as error:
            self._fail(request, error)
            self._observe(request, started, timings, code_of(error))
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        self._observe(request, started, timings, grpc.StatusCode.OK)
        return CallReply(result=payload) if request.return_result else CallReply()

    async def CallStream(
        self, request: CallRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[StreamItem]:
        started = time.perf_counter()
        timings = _Timings()
        items: list[Any] = []
        single = False
        try:
            executor = self._admit(request)
            try:
                args, kwargs = await self._arguments(request, _deadline(context), timings)
                async with self._admission.slot():
                    self._gauges()
                    token = current_call.set(
                        CallContext(request.request_id, _deadline(context), request.step)
                    )
                    try:
                        began = time.perf_counter()
                        async for item, final in executor.stream(
                            request.method, args, kwargs, request.step
                        ):
                            single = final
                            if request.result_key:
                                items.append(item)
                            yield StreamItem(item=self._encode(item, request), final=final)
                        timings.user_code = time.perf_counter() - began
                    finally:
                        current_call.reset(token)
                if request.result_key:
                    value = items[0] if single else items
                    self._store.put(
                        request.result_key,
                        self._encode(value, request),
                        request.consumers,
                        value=value,
                    )
            finally:
                self._admission.leave()
                self._gauges()
        except RequestError as error:
            self._fail(request, error)
            self._observe(request, started, timings, code_of(error))
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        self._observe(request, started, timings, grpc.StatusCode.OK)

    async def Fetch(self, request: FetchRequest, context: grpc.aio.ServicerContext) -> FetchReply:
        try:
            payload = await self._store.fetch(
                request.key, list(request.path), context.time_remaining()
            )
        except RequestError as error:
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        return FetchReply(value=payload)

    # -- steps -------------------------------------------------------------------------------

    def _admit(self, request: CallRequest) -> Executor:
        executor = self.executor
        if executor is None:
            raise ReplicaUnavailable(
                f'node "{self.node}" is still starting', node=self.node, step=request.step
            )
        try:
            self._admission.admit(self.node, request.step)
        except Overloaded:
            self._metrics.rejected.labels(self.graph, self.node).inc()
            raise
        return executor

    async def _run(
        self, work: Any, request: CallRequest, context: grpc.aio.ServicerContext, timings: _Timings
    ) -> Any:
        token = current_call.set(CallContext(request.request_id, _deadline(context), request.step))
        began = time.perf_counter()
        try:
            timeout = context.time_remaining()
            if timeout is None:
                return await work
            try:
                return await asyncio.wait_for(work, timeout)
            except TimeoutError:
                raise DeadlineExceeded(
                    f'node "{self.node}" (step "{request.step}") did not finish '
                    "before the deadline",
                    node=self.node,
                    step=request.step,
                ) from None
        finally:
            timings.user_code = time.perf_counter() - began
            current_call.reset(token)

    async def _arguments(
        self, request: CallRequest, deadline: float | None, timings: _Timings
    ) -> tuple[list[Any], dict[str, Any]]:
        upstreams = request.upstreams
        values: dict[int, Any] = {}
        if upstreams:
            references = {int(i) for i in _REFERENCE_MARKER.findall(request.args.header)}
            wanted = [i for i in range(len(upstreams)) if i not in references]
            began = time.perf_counter()
            fetched = await asyncio.gather(
                *(self._fetch_upstream(upstreams[i], deadline, request) for i in wanted),
                return_exceptions=True,
            )
            timings.upstream = time.perf_counter() - began
            for index, result in zip(wanted, fetched, strict=True):
                if isinstance(result, BaseException):
                    raise result
                values[index] = result
        try:
            decoded = decode(
                request.args,
                upstream=values.__getitem__,
                reference=lambda i: self._remote_response(upstreams[i], deadline),
            )
            args, kwargs = decoded
        except (CodecError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise RequestError(
                f'malformed arguments for node "{self.node}": {exc}',
                node=self.node,
                step=request.step,
            ) from exc
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise RequestError(
                f'malformed arguments for node "{self.node}"', node=self.node, step=request.step
            )
        return args, kwargs

    async def _fetch_upstream(
        self, upstream: Upstream, deadline: float | None, request: CallRequest
    ) -> Any:
        try:
            payload = await self._client.fetch(
                upstream.address, upstream.key, list(upstream.path), deadline=deadline
            )
        except RequestError as error:
            if isinstance(error, DeadlineExceeded | Cancelled):
                raise
            raise UpstreamFailed(error, node=self.node, step=request.step) from error
        return decode(payload)

    def _remote_response(self, upstream: Upstream, deadline: float | None) -> RemoteResponse:
        async def fetch() -> Any:
            payload = await self._client.fetch(
                upstream.address, upstream.key, list(upstream.path), deadline=deadline
            )
            return decode(payload)

        return RemoteResponse(fetch, self._loop)

    def _encode(self, value: Any, request: CallRequest) -> Any:
        try:
            return encode(value)
        except CodecError as exc:
            where = f'step "{request.step}"' if request.step else f'method "{request.method}"'
            raise UserCodeError(
                f'node "{self.node}" ({where}) returned a value braid cannot send: {exc.message}',
                node=self.node,
                step=request.step,
                exc_type="CodecError",
            ) from exc

    def _fail(self, request: CallRequest, error: RequestError) -> None:
        if request.result_key:
            self._store.put_error(request.result_key, error, request.consumers)
        if isinstance(error, UserCodeError | UpstreamFailed):
            logger.info("%s", error.message)
        else:
            logger.debug("call %s.%s failed: %s", self.node, request.method, error.message)

    # -- metrics -----------------------------------------------------------------------------

    def _gauges(self) -> None:
        self._metrics.ongoing.labels(self.graph, self.node).set(self._admission.running)
        self._metrics.queued.labels(self.graph, self.node).set(self._admission.queued)

    def _observe(
        self, request: CallRequest, started: float, timings: _Timings, code: grpc.StatusCode
    ) -> None:
        labels = (self.graph, self.node, request.method, request.step)
        total = time.perf_counter() - started
        metrics = self._metrics
        metrics.requests.labels(*labels, code.name).inc()
        metrics.latency.labels(*labels).observe(total)
        metrics.user_code.labels(*labels).observe(timings.user_code)
        metrics.upstream_wait.labels(*labels).observe(timings.upstream)
        metrics.overhead.labels(*labels).observe(
            max(0.0, total - timings.user_code - timings.upstream)
        )


class _Timings:
    __slots__ = ("upstream", "user_code")

    def __init__(self) -> None:
        self.upstream = 0.0
        self.user_code = 0.0


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    left = context.time_remaining()
    return None if left is None else time.monotonic() + left
