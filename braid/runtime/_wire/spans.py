"""The spans braid makes, with the OpenTelemetry API: imported only once tracing is on.

:class:`Spans` is what :mod:`braid.runtime._wire.tracing` delegates to. Span names and kinds:

- ``request <graph>`` (SERVER) at the ingress, child of the caller's ``traceparent`` if any;
- ``step <step>`` (SERVER) where a step runs, child of the span that sent the call: the
  ingress's request for a root step, the producer's step for a continuation, the join's step
  for a producer it calls itself (decision 0013), the calling step for a co-located member;
- ``call <node>.<method>`` (SERVER) where a handle call runs, child of
  ``handle <node>.<method>`` (CLIENT), the caller's span of it;
- ``fetch <step>`` (CLIENT) in a consumer that waits for an upstream value.

Every span carries ``braid.graph``, ``braid.node``, ``braid.step``, ``braid.method`` and
``braid.replica`` where they apply; a failure sets the span's status to ERROR, records the
exception and names its kind, node and step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from braid.runtime._wire.errors import RequestError
from braid.runtime._wire.tracing import TRACEPARENT, TRACESTATE

if TYPE_CHECKING:
    from braid.runtime._proto.braid_pb2 import CallRequest

_Carrier = Mapping[str, str] | Iterable[tuple[str, Any]] | None


class Spans:
    """Makes braid's spans with one tracer, and moves their context across processes."""

    def __init__(
        self,
        tracer: trace.Tracer,
        *,
        attributes: Mapping[str, str],
        shutdown: Any = None,
    ) -> None:
        self._tracer = tracer
        self._attributes = dict(attributes)
        self._propagator = TraceContextTextMapPropagator()
        self._shutdown = shutdown

    def shutdown(self) -> None:
        if self._shutdown is not None:
            self._shutdown()

    # -- spans -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def request(
        self,
        graph: str,
        protocol: str,
        carrier: Mapping[str, str] | Iterable[tuple[str, Any]] | None,
    ) -> Iterator[None]:
        parent = self._extract(carrier)
        attributes = {**self._attributes, "braid.graph": graph, "braid.protocol": protocol}
        with self._current(f"request {graph}", parent, SpanKind.SERVER, attributes):
            yield

    @contextlib.contextmanager
    def call(self, request: CallRequest, node: str) -> Iterator[None]:
        with self._current(*self._call_start(request, node)):
            yield

    def stream(self, request: CallRequest, node: str) -> StreamSpan:
        name, parent, kind, attributes = self._call_start(request, node)
        span = self._tracer.start_span(name, parent, kind, attributes)
        # Current for the rest of this gRPC handler's task, never detached: the generator may
        # be closed from another context, where a reset would fail.
        otel_context.attach(trace.set_span_in_context(span))
        return StreamSpan(span)

    @contextlib.contextmanager
    def handle(self, request: CallRequest) -> Iterator[None]:
        name, attributes = self._handle_start(request)
        with self._current(name, None, SpanKind.CLIENT, attributes) as span:
            self._inject_span(request, span)
            yield

    def handle_stream(self, request: CallRequest) -> StreamSpan:
        name, attributes = self._handle_start(request)
        span = self._tracer.start_span(name, None, SpanKind.CLIENT, attributes)
        self._inject_span(request, span)
        return StreamSpan(span)

    @contextlib.contextmanager
    def fetch(self, step: str) -> Iterator[None]:
        attributes = {**self._attributes, "braid.step": step}
        with self._current(f"fetch {step}", None, SpanKind.CLIENT, attributes):
            yield

    def fail_current(self, error: BaseException) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            record_failure(span, error)

    def _call_start(
        self, request: CallRequest, node: str
    ) -> tuple[str, otel_context.Context | None, SpanKind, dict[str, Any]]:
        parent = None
        if request.traceparent:
            carrier = {TRACEPARENT: request.traceparent, TRACESTATE: request.tracestate}
            parent = self._propagator.extract(carrier)
        name = f"step {request.step}" if request.step else f"call {node}.{request.method}"
        attributes = {
            **self._attributes,
            "braid.graph": request.graph,
            "braid.node": node,
            "braid.step": request.step,
            "braid.method": request.method,
            "braid.request_id": request.request_id,
            "braid.caller": request.caller,
        }
        return name, parent, SpanKind.SERVER, attributes

    def _handle_start(self, request: CallRequest) -> tuple[str, dict[str, Any]]:
        attributes = {
            **self._attributes,
            "braid.graph": request.graph,
            "braid.node": request.node,
            "braid.method": request.method,
            "braid.caller": request.caller,
            "braid.request_id": request.request_id,
        }
        return f"handle {request.node}.{request.method}", attributes

    @contextlib.contextmanager
    def _current(
        self,
        name: str,
        parent: otel_context.Context | None,
        kind: SpanKind,
        attributes: Mapping[str, Any],
    ) -> Iterator[Span]:
        span = self._tracer.start_span(name, parent, kind, attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        except BaseException as exc:
            record_failure(span, exc)
            raise
        finally:
            otel_context.detach(token)
            span.end()

    # -- propagation ------------------------------------------------------------------------------

    def inject_request(self, request: CallRequest) -> None:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        if TRACEPARENT in carrier:
            request.traceparent = carrier[TRACEPARENT]
            request.tracestate = carrier.get(TRACESTATE, "")

    def _inject_span(self, request: CallRequest, span: Span) -> None:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, trace.set_span_in_context(span))
        if TRACEPARENT in carrier:
            request.traceparent = carrier[TRACEPARENT]
            request.tracestate = carrier.get(TRACESTATE, "")

    def inject_metadata(
        self, base: tuple[tuple[str, str], ...] | None
    ) -> tuple[tuple[str, str], ...] | None:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        if not carrier:
            return base
        return (*(base or ()), *carrier.items())

    @contextlib.contextmanager
    def attached(self, carrier: Iterable[tuple[str, Any]] | None) -> Iterator[None]:
        token = otel_context.attach(self._extract(carrier))
        try:
            yield
        finally:
            otel_context.detach(token)

    def _extract(self, carrier: _Carrier) -> otel_context.Context:
        if carrier is None:
            found: Mapping[str, Any] = {}
        elif isinstance(carrier, Mapping):
            found = carrier
        else:
            found = {key: value for key, value in carrier if key in (TRACEPARENT, TRACESTATE)}
        return self._propagator.extract(found, context=otel_context.Context())


class StreamSpan:
    """A span that a streaming call ends itself (see :meth:`Spans.stream`); only its first
    end counts."""

    __slots__ = ("_ended", "_span")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._ended = False

    def end(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        if error is not None:
            record_failure(self._span, error)
        self._span.end()


def record_failure(span: Span, error: BaseException) -> None:
    """Mark ``span`` failed: ERROR status with braid's message, the exception as an event, and
    the error's kind, node and step (a cancellation is marked, not recorded as an exception).
    A span already marked failed keeps its first failure (a gRPC abort that answers it)."""
    status = getattr(span, "status", None)  # the SDK's spans have it
    if status is not None and status.status_code is StatusCode.ERROR:
        return
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        span.set_attribute("braid.cancelled", True)
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
        return
    if isinstance(error, RequestError):
        span.set_attribute("braid.error.kind", error.kind)
        if error.node:
            span.set_attribute("braid.error.node", error.node)
        if error.step:
            span.set_attribute("braid.error.step", error.step)
        span.set_status(Status(StatusCode.ERROR, error.message))
    else:
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.record_exception(error)
