"""The sidecar's gRPC service: runs its node's steps and serves results to peers.

One :class:`ReplicaService` per replica implements ``braid.v1.Replica``:

- ``Call``/``CallStream`` run a step or a handle call. The call's upstream arguments are
  fetched first, from the producers' sidecars, concurrently and peer to peer, before admission
  (a join's own producers, sent inside its request, are called from here instead, and their
  values come back in their replies):
  a join waiting for its inputs holds neither a run slot nor a place in the queue, so it can
  never starve the steps that produce those inputs. Then admission: beyond
  ``maxOngoingRequests`` running plus ``maxQueuedRequests`` waiting, a call is refused at once
  with RESOURCE_EXHAUSTED and a retry hint, never queued without bound. Then the node's code
  runs in a slot, under the request's deadline (its own timer, which names the node and step)
  and id (a context variable, for handle calls it makes). The result goes back to the caller
  and/or into the result store for the flow's consumers.
- A handle call (a call without a step) must match the method: ``stream=True`` on a plain
  method, or a plain call of a generator, fails before the method runs.
- ``Fetch`` hands a stored result (or a field of it) to a consumer, waiting until it is ready.

A failure is stored in place of the result, so that consumers fail with the origin's error
(naming its node and step) instead of receiving an error body as a value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from braid.runtime._proto import braid_pb2_grpc
from braid.runtime._proto.braid_pb2 import (
    CallReply,
    CallRequest,
    FetchReply,
    FetchRequest,
    FlowDegraded,
    Payload,
    StreamItem,
    Upstream,
)
from braid.runtime._replica.arguments import Arguments, EncodedResult, plain
from braid.runtime._replica.colocation import Colocation
from braid.runtime._replica.executors import Executor
from braid.runtime._replica.guarding import Guard
from braid.runtime._replica.handles import (
    CallContext,
    RemoteResponse,
    Response,
    StreamingResponse,
    current_call,
)
from braid.runtime._replica.metrics import SidecarMetrics
from braid.runtime._replica.quorums import gather_quorum, source_of
from braid.runtime._replica.result_store import ResultStore, pick_payload, pick_value
from braid.runtime._replica.worker_socket import WORKER_KEY_PREFIX, WorkerUnreachable
from braid.runtime._wire import tracing
from braid.runtime._wire.client import MODELS_KEY, NOT_STARTED_KEY, ReplicaClient, deadline_of
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import (
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
from braid.runtime._wire.local_calls import Refused
from braid.runtime._wire.shared_memory import Message, SharedMemory, caller_domain, payloads_of

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=Message)
_REFERENCE_MARKER = re.compile(rb'\{"\$ref":(\d+)\}')
#: No inline values: every upstream comes inline in its request or is fetched.
_NO_VALUE: Any = object()


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

    async def acquire(self) -> None:
        """Wait for a run slot (a plain acquire: this sits on every call's path)."""
        await self._slots.acquire()
        self.running += 1

    def release(self) -> None:
        self.running -= 1
        self._slots.release()


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
        shared: SharedMemory | None = None,
        share_results: bool = False,
        address: str = "",
    ) -> None:
        self.graph, self.node = graph, node
        #: Timeouts, retries and fallbacks of the steps this replica runs (decision 0021).
        self._guard = Guard(
            node=node,
            address=address,
            client=client,
            shared=shared,
            on_retry=lambda step: metrics.retries.labels(graph, node, step).inc(),
        )
        #: This host's shared-memory folder: large values to and from callers that read it too.
        self.shared = shared
        #: Write results to shared memory as they are encoded: every caller and consumer of
        #: this replica is on this host (braid run, or a worker behind its pod's sidecar).
        self._results_shared = shared if share_results else None
        self.executor: Executor | None = None
        self._client, self._store, self._admission, self._metrics = (
            client,
            store,
            admission,
            metrics,
        )
        self._loop = loop
        # Read when scraped, not set on every call.
        metrics.ongoing.labels(graph, node).set_function(lambda: admission.running)
        metrics.queued.labels(graph, node).set_function(lambda: admission.queued)
        self._children: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}
        self._counters: dict[tuple[str, str, grpc.StatusCode], Any] = {}
        #: Why this replica refuses every call before running anything (its worker is down),
        #: or None. Callers send a refused call to another replica.
        self.refusal: str | None = None
        #: The other nodes hosted in this process (a co-location group), if any.
        self.colocation = Colocation()
        #: Fetches of values that the worker holds (responses its user code passed on).
        self.worker_fetch: Callable[[FetchRequest, float | None], Awaitable[Payload]] | None = None

    # -- Replica API -------------------------------------------------------------------------

    async def Call(self, request: CallRequest, context: grpc.aio.ServicerContext) -> CallReply:
        try:
            reply = await self.answer(
                request, context.time_remaining(), caller_domain(context.invocation_metadata())
            )
        except Refused as refused:
            await _abort_refused(context, refused.error)
        except RequestError as error:
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        return self._release_if_cancelled(reply, context)

    async def answer(
        self, request: CallRequest, time_remaining: float | None, domain: str
    ) -> CallReply:
        """One unary call, whatever carried it (gRPC, or a local call: decision 0025): its
        reply, ready for a caller that reads shared-memory ``domain``. Raises
        :class:`Refused` for a call refused before anything ran (the caller may send it to
        another replica), else a ``RequestError``."""
        if (refusal := self._refusal()) is not None:
            raise Refused(ReplicaUnavailable(refusal, node=self.node, step=request.step))
        retryable = False
        try:
            reply = await self.run_call(request, deadline_of(time_remaining))
            return self._outgoing(reply, domain)
        except WorkerUnreachable as error:
            retryable = True  # nothing read it: the caller sends it to another replica as it is
            raise Refused(
                ReplicaUnavailable(error.message, node=self.node, step=request.step)
            ) from None
        finally:
            if self.shared is not None and not retryable:  # unread by now, never read
                self.shared.release_message(request)

    async def run_call(
        self, request: CallRequest, deadline: float | None, inline: Any = _NO_VALUE
    ) -> CallReply:
        """Run one call and its continuations; ``inline``: the producer's value, passed in
        process by a co-located member (docs/decisions/0009-co-location.md). Within the call's
        span, when tracing is on: its continuations and handle calls are its children."""
        with tracing.call_span(request, self.node):
            return await self._run_call(request, deadline, inline)

    async def _run_call(
        self, request: CallRequest, deadline: float | None, inline: Any
    ) -> CallReply:
        started = time.perf_counter()
        timings = _Timings()
        try:
            payload, value = await self._step(request, deadline, timings, inline)
        except WorkerUnreachable:
            raise
        except RequestError as error:
            self._fail(request, error)
            self._observe(request, started, timings, code_of(error))
            raise
        self._observe(request, started, timings, grpc.StatusCode.OK)
        try:
            reply = CallReply(result=self._copy(payload)) if request.return_result else CallReply()
            if timings.headers:
                reply.response_headers.update(timings.headers)
            if request.model_id and self.executor is not None:  # for the callers' routers
                reply.models.extend(self.executor.loaded_models())
            reply.degraded.extend(timings.degraded)
            self._count_degraded(timings.degraded)
            if request.then:  # a later step that fails names itself
                reply.then.extend(await self._continue(request, payload, value, deadline))
        finally:
            if payload is not None and self.shared is not None:
                self.shared.release_payload(payload)  # each message got a link of its own
        return reply

    def _copy(self, payload: Payload | None) -> Payload | None:
        """``payload`` for one more message: its shared-memory segments get names of their
        own, so that every receiver reads and removes its own (decision 0012)."""
        if payload is None or not payload.shared or self.shared is None:
            return payload
        return self.shared.link(payload)

    async def _step(
        self, request: CallRequest, deadline: float | None, timings: _Timings, inline: Any
    ) -> tuple[Payload | None, Any]:
        """Resolve the arguments, admit, run the node's code in a slot, and store the result.

        The result is encoded only when something outside this process needs it: the caller,
        the result store, or a continuation on another replica.
        """
        arguments = await self._arguments(request, deadline, timings, inline)
        if request.HasField("guard"):

            def attempt(until: float | None) -> Awaitable[Any]:
                return self._attempt(request, arguments, until, timings)

            value, degraded = await self._guard.run(request, arguments, deadline, attempt)
            if degraded is not None:
                timings.degraded.append(degraded)
        else:
            value = await self._attempt(request, arguments, deadline, timings)
        payload = None
        if request.return_result or request.result_key or not self.colocation.holds_all(request):
            payload = self._encode(value, request)
        if request.result_key and payload is not None:
            stored = None if isinstance(value, EncodedResult) else value
            kept = payload
            if payload.shared and self.shared is not None:
                kept = self.shared.link(payload, expires=False)
            self._store.put(request.result_key, kept, request.consumers, value=stored)
        return payload, value

    async def _attempt(
        self, request: CallRequest, arguments: Arguments, deadline: float | None, timings: _Timings
    ) -> Any:
        """Admit the call and run the node's code in a slot, until ``deadline``."""
        executor = self._admit(request, stream=False)
        try:
            await self._admission.acquire()
            try:
                return await self._run(
                    executor.call(request.method, arguments, request.step),
                    request,
                    deadline,
                    timings,
                )
            finally:
                self._admission.release()
        finally:
            self._admission.leave()

    async def _continue(
        self, request: CallRequest, payload: Payload | None, value: Any, deadline: float | None
    ) -> list[CallReply]:
        """Send the continuations of a finished step, with its result inline (a co-located
        member's in process, with the value itself)."""
        calls: list[Awaitable[CallReply]] = []
        for follow in request.then:
            member = self.colocation.member_for(follow)
            if member is not None:
                calls.append(
                    member.run_inline(follow, plain(value), source=request.step, deadline=deadline)
                )
                continue
            for upstream in follow.upstreams:
                if not upstream.address and not upstream.HasField("value") and payload is not None:
                    upstream.value.CopyFrom(
                        self._copy(payload)
                        if not upstream.path
                        else pick_payload(
                            plain(value),
                            upstream.path,
                            source=request.step,
                            shared=self._results_shared,
                        )
                    )
            calls.append(self._remote(follow, deadline))
        if len(calls) == 1:
            return [await calls[0]]
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return list(results)  # type: ignore[arg-type]

    async def _remote(self, follow: CallRequest, deadline: float | None) -> CallReply:
        # The continuation's reply goes back to this call's caller as it is: buffers that it
        # carries in shared memory stay there (the caller reads them, or they are read back
        # into the reply for a caller that cannot; see _outgoing).
        _, reply = await self._client.call(
            follow, deadline=deadline, address=follow.address or None, absorb=False
        )
        return reply

    async def run_inline(
        self, request: CallRequest, value: Any, *, source: str, deadline: float | None
    ) -> CallReply:
        """A continuation from a co-located member: its value, picked in process."""
        if self.refusal is not None:
            raise ReplicaUnavailable(self.refusal, node=self.node, step=request.step)
        inline = {
            index: pick_value(value, upstream.path, source=source)
            for index, upstream in enumerate(request.upstreams)
            if not upstream.address and not upstream.HasField("value")
        }
        try:
            return await self.run_call(request, deadline, inline)
        except WorkerUnreachable as error:  # the producer ran: never a call to retry elsewhere
            raise ReplicaUnavailable(error.message, node=self.node, step=request.step) from None

    async def CallStream(
        self, request: CallRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[StreamItem]:
        if (refusal := self._refusal()) is not None:
            await self._refuse(request, context, refusal)
        started = time.perf_counter()
        timings = _Timings()
        items: list[Any] = []
        single = False
        span = tracing.stream_span(request, self.node)
        try:
            deadline = _deadline(context)
            arguments = await self._arguments(request, deadline, timings, _NO_VALUE)
            executor = self._admit(request, stream=True)
            try:
                await self._admission.acquire()
                # Each RPC runs in a task of its own, so the context variable needs no reset
                # (and a generator may be closed from another context, where reset fails).
                current_call.set(_context_of(request, deadline, timings.headers))
                began = time.perf_counter()
                try:
                    first = True
                    async for item, final in executor.stream(
                        request.method, arguments, request.step
                    ):
                        if first and request.model_id:  # for the callers' routers
                            models = json.dumps(executor.loaded_models())
                            await context.send_initial_metadata(((MODELS_KEY, models),))
                        message = self._stream_item(item, final, request, timings, first=first)
                        first = False
                        single = final
                        if request.result_key:
                            items.append(plain(item))
                        yield self._outgoing_rpc(message, context)
                finally:
                    timings.user_code = time.perf_counter() - began
                    self._admission.release()
                if request.result_key:
                    value = items[0] if single else items
                    self._store.put(
                        request.result_key,
                        self._encode(value, request, shared=None),
                        request.consumers,
                        value=value,
                    )
            finally:
                self._admission.leave()
        except WorkerUnreachable as error:
            await self._refuse(request, context, error.message)
        except RequestError as error:
            tracing.end_stream_span(span, error)
            self._fail(request, error)
            self._observe(request, started, timings, code_of(error))
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        finally:  # also when cancelled, or closed early by gRPC (ending twice is harmless)
            tracing.end_stream_span(span)
        self._observe(request, started, timings, grpc.StatusCode.OK)

    def _stream_item(
        self, item: Any, final: bool, request: CallRequest, timings: _Timings, *, first: bool
    ) -> StreamItem:
        """One item of a stream; the first carries the response headers the code set before
        it (decision 0022) and the steps that degraded (decision 0021)."""
        message = StreamItem(item=self._encode(item, request, shared=None), final=final)
        if first and timings.headers:
            message.response_headers.update(timings.headers)
        if timings.degraded:
            message.degraded.extend(timings.degraded)
            self._count_degraded(timings.degraded)
            timings.degraded.clear()
        return message

    async def Fetch(self, request: FetchRequest, context: grpc.aio.ServicerContext) -> FetchReply:
        try:
            with tracing.attached(context.invocation_metadata()):
                if self.worker_fetch is not None and request.key.startswith(WORKER_KEY_PREFIX):
                    payload = await self.worker_fetch(request, context.time_remaining())
                else:
                    payload = await self._store.fetch(
                        request.key, list(request.path), context.time_remaining()
                    )
        except RequestError as error:
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        return self._outgoing_rpc(FetchReply(value=payload), context)

    def _outgoing(self, message: _M, domain: str) -> _M:
        """``message`` for a caller that reads shared-memory ``domain``: large buffers through
        shared memory when that is this host's folder, else every buffer inline (decision
        0012)."""
        shared = self.shared
        if shared is None:
            return message
        if domain != shared.domain:
            shared.absorb(message)  # e.g. a worker's reply, for a caller on another host
            return message
        shared.offload(message)
        return message

    def _outgoing_rpc(self, message: _M, context: grpc.aio.ServicerContext) -> _M:
        """:meth:`_outgoing` for a gRPC caller."""
        domain = caller_domain(context.invocation_metadata())
        return self._release_if_cancelled(self._outgoing(message, domain), context)

    def _release_if_cancelled(self, message: _M, context: grpc.aio.ServicerContext) -> _M:
        """``message``, whose shared-memory buffers are freed if its RPC ends cancelled."""
        shared = self.shared
        if shared is not None and any(payload.shared for payload in payloads_of(message)):

            def release_if_cancelled(done: grpc.aio.ServicerContext) -> None:
                if done.cancelled():  # the caller went away: nobody will read them
                    shared.release_message(message)

            context.add_done_callback(release_if_cancelled)
        return message

    # -- steps -------------------------------------------------------------------------------

    def _refusal(self) -> str | None:
        """Why every call is refused before running anything right now, or None: the worker is
        down, or the node's code is still being constructed (a restarted replica listens while
        it loads; a call it refuses goes to another replica instead of failing)."""
        if self.refusal is None and self.executor is None:
            return f'node "{self.node}" is still starting; try another replica'
        return self.refusal

    async def _refuse(
        self, request: CallRequest, context: grpc.aio.ServicerContext, reason: str
    ) -> NoReturn:
        """Refuse a call before running anything; the caller may try another replica."""
        await _abort_refused(context, ReplicaUnavailable(reason, node=self.node, step=request.step))

    def _admit(self, request: CallRequest, *, stream: bool) -> Executor:
        executor = self.executor
        if executor is None:
            raise ReplicaUnavailable(
                f'node "{self.node}" is still starting', node=self.node, step=request.step
            )
        if not request.step:  # a handle call: its streaming mode must match the method
            self._check_mode(executor, request, stream=stream)
        try:
            self._admission.admit(self.node, request.step)
        except Overloaded:
            self._metrics.rejected.labels(self.graph, self.node).inc()
            raise
        return executor

    def _check_mode(self, executor: Executor, request: CallRequest, *, stream: bool) -> None:
        is_stream = getattr(executor, "is_stream", None)  # None: the worker behind checks
        if is_stream is None or is_stream(request.method) == stream:
            return
        name = f"{self.node}.{request.method}"
        fix = (
            "call it without stream=True"
            if stream
            else "call it with handle.options(stream=True) and iterate the response"
        )
        kind = "a generator method" if not stream else "not a generator method"
        message = f'node "{request.caller}" called {name}, which is {kind}: {fix}'
        raise UserCodeError(message, node=request.caller, exc_type="TypeError", exc_message=message)

    async def _run(
        self, work: Any, request: CallRequest, deadline: float | None, timings: _Timings
    ) -> Any:
        # A timer of our own at the deadline, so that the error names this node and step (the
        # caller's gRPC timeout runs DEADLINE_MARGIN longer).
        token = current_call.set(_context_of(request, deadline, timings.headers))
        began = time.perf_counter()
        try:
            if deadline is None:
                return await work
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    return await work
            except TimeoutError:
                where = f'step "{request.step}"' if request.step else f'method "{request.method}"'
                raise DeadlineExceeded(
                    f'node "{self.node}" ({where}) was still running at the deadline',
                    node=self.node,
                    step=request.step,
                ) from None
        finally:
            timings.user_code = time.perf_counter() - began
            current_call.reset(token)

    async def _arguments(
        self, request: CallRequest, deadline: float | None, timings: _Timings, inline: Any
    ) -> Arguments:
        """The call's arguments with every upstream value resolved, still encoded: decoded by
        code in this process, passed on untouched to a worker (decision 0012)."""
        upstreams = request.upstreams
        values: dict[int, Any] = {} if inline is _NO_VALUE else dict(inline)
        payloads: dict[int, Payload] = {}
        if upstreams:
            references = {int(i) for i in _REFERENCE_MARKER.findall(request.args.header)}
            wanted = []
            for index, upstream in enumerate(upstreams):
                if index in values:
                    continue
                if upstream.HasField("value"):
                    payloads[index] = upstream.value
                elif index not in references:
                    wanted.append(index)
            began = time.perf_counter()
            if request.HasField("quorum"):
                found = await self._quorum(request, wanted, deadline, timings, values)
            elif len(wanted) == 1:
                only = wanted[0]
                found = [await self._resolve_upstream(upstreams[only], deadline, request, timings)]
            elif wanted:
                found = await _first_failure(
                    [
                        self._resolve_upstream(upstreams[i], deadline, request, timings)
                        for i in wanted
                    ]
                )
            else:
                found = []
            for index, (payload, value) in zip(wanted, found, strict=True):
                if payload is not None:
                    payloads[index] = payload
                else:
                    values[index] = value
            timings.upstream = time.perf_counter() - began
        return Arguments(
            request.args,
            upstreams,
            node=self.node,
            step=request.step,
            payloads=payloads,
            values=values,
            reference=lambda i: self._remote_response(upstreams[i], deadline),
            shared=self.shared,
        )

    async def _quorum(
        self,
        request: CallRequest,
        wanted: list[int],
        deadline: float | None,
        timings: _Timings,
        values: dict[int, Any],
    ) -> list[tuple[Payload | None, Any]]:
        """A quorum join's upstream values (missing ones None), in the order of ``wanted``;
        the missing steps' names go to their argument and to the reply's degraded list."""
        quorum, upstreams = request.quorum, request.upstreams
        names = 0 <= quorum.missing_index < len(upstreams)
        if names and quorum.missing_index in wanted:
            wanted.remove(quorum.missing_index)
        outcome = await gather_quorum(
            {i: self._resolve_upstream(upstreams[i], deadline, request, timings) for i in wanted},
            {i: source_of(upstreams[i]) for i in wanted},
            quorum,
            node=self.node,
            step=request.step,
        )
        if names:
            values[quorum.missing_index] = sorted(outcome.missing)
        timings.degraded.extend(
            FlowDegraded(step=name, reason="missing", message=why)
            for name, why in sorted(outcome.missing.items())
        )
        return [outcome.found.get(i, (None, None)) for i in wanted]

    async def _resolve_upstream(
        self, upstream: Upstream, deadline: float | None, request: CallRequest, timings: _Timings
    ) -> tuple[Payload | None, Any]:
        """An upstream value: ``(payload, None)`` still encoded, fetched from its producer's
        store (a value in shared memory stays there until the code's arguments are decoded), or
        for a join's own producer (``Upstream.call``, decision 0013) taken from the reply of the
        producer's call, which this sidecar sends: encoded, or ``(None, value)`` when a field of
        it is picked here."""
        try:
            if upstream.HasField("call"):
                producer = upstream.call
                _, reply = await self._client.call(
                    producer, deadline=deadline, address=producer.address or None
                )
                timings.degraded.extend(reply.degraded)  # a soft producer's fallback
                if reply.response_headers:
                    timings.headers.update(reply.response_headers)
                if not upstream.path:
                    return reply.result, None
                value = decode(reply.result)
                return None, pick_value(value, upstream.path, source=producer.step)
            payload = await self._client.fetch(
                upstream.address, upstream.key, list(upstream.path), deadline=deadline, absorb=False
            )
        except RequestError as error:
            if isinstance(error, DeadlineExceeded | Cancelled):
                raise
            raise UpstreamFailed(error, node=self.node, step=request.step) from error
        return payload, None

    def _remote_response(self, upstream: Upstream, deadline: float | None) -> RemoteResponse:
        async def fetch() -> Any:
            payload = await self._client.fetch(
                upstream.address, upstream.key, list(upstream.path), deadline=deadline
            )
            return decode(payload)

        return RemoteResponse(fetch, self._loop, origin=upstream)

    def _encode(self, value: Any, request: CallRequest, *, shared: Any = _NO_VALUE) -> Any:
        if isinstance(value, EncodedResult):  # a worker's result: passed on untouched
            return value.payload
        try:
            return encode(value, shared=self._results_shared if shared is _NO_VALUE else shared)
        except CodecError as exc:
            where = f'step "{request.step}"' if request.step else f'method "{request.method}"'
            why = exc.message
            if isinstance(value, Response | RemoteResponse | StreamingResponse):
                why = "it is the response of a handle call, not awaited: return await it"
            raise UserCodeError(
                f'node "{self.node}" ({where}) returned a value braid cannot send: {why}',
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

    def _count_degraded(self, degraded: list[FlowDegraded]) -> None:
        for item in degraded:
            self._metrics.degraded.labels(self.graph, self.node, item.step, item.reason).inc()

    def _observe(
        self, request: CallRequest, started: float, timings: _Timings, code: grpc.StatusCode
    ) -> None:
        key = (request.method, request.step)
        children = self._children.get(key)
        if children is None:
            labels = (self.graph, self.node, request.method, request.step)
            metrics = self._metrics
            children = self._children[key] = (
                metrics.latency.labels(*labels),
                metrics.user_code.labels(*labels),
                metrics.upstream_wait.labels(*labels),
                metrics.overhead.labels(*labels),
            )
        latency, user_code, upstream_wait, overhead = children
        total = time.perf_counter() - started
        counted = self._counters.get((*key, code))
        if counted is None:  # a child per outcome, looked up once: labels() takes a lock
            counted = self._metrics.requests.labels(self.graph, self.node, *key, code.name)
            self._counters[(*key, code)] = counted
        counted.inc()
        latency.observe(total)
        user_code.observe(timings.user_code)
        upstream_wait.observe(timings.upstream)
        overhead.observe(max(0.0, total - timings.user_code - timings.upstream))


class _Timings:
    """What one call gathers as it runs: its timings, the response headers set by its code and
    by the calls it made (handle calls, a join's own producers; decision 0022), and the steps
    that degraded in it (decision 0021)."""

    __slots__ = ("degraded", "headers", "upstream", "user_code")

    def __init__(self) -> None:
        self.upstream = 0.0
        self.user_code = 0.0
        self.degraded: list[FlowDegraded] = []
        self.headers: dict[str, str] = {}


def _context_of(request: CallRequest, deadline: float | None, out: dict[str, str]) -> CallContext:
    """The context node code sees for ``request`` (braid.request_context())."""
    return CallContext(
        request.request_id,
        deadline,
        request.step,
        request.model_id,
        headers=dict(request.context.headers) if request.HasField("context") else {},
        response_headers=out,
    )


async def _first_failure(work: list[Awaitable[Any]]) -> list[Any]:
    """The results of ``work`` in order; the first failure cancels the rest and is raised at
    once, so that a join whose first input failed fails now, not after its slowest input."""
    tasks = [asyncio.ensure_future(item) for item in work]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _abort_refused(context: grpc.aio.ServicerContext, error: RequestError) -> NoReturn:
    """End the RPC with ``error``, marked as refused before anything ran (the caller may send
    it to another replica)."""
    trailers = (*error_metadata(error), (NOT_STARTED_KEY, "1"))
    await context.abort(grpc.StatusCode.UNAVAILABLE, error.message, trailing_metadata=trailers)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    return deadline_of(context.time_remaining())
