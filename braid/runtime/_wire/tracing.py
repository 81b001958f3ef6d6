"""Tracing: OpenTelemetry spans per step and handle call, W3C trace context across every hop.

This module is the runtime's only entry to tracing, and it imports no OpenTelemetry: when
tracing is off (no ``OTEL_*`` variable names an exporter, or ``OTEL_SDK_DISABLED=true``) each
function below is one attribute check that returns a shared no-op, so a process that does not
trace neither pays for spans nor loads the SDK. ``braid sidecar``, ``braid worker`` and ``braid
ingress`` call :func:`configure` once at start (settings read from the environment by the CLI);
only then is :mod:`braid.runtime._wire.spans` imported and the SDK set up
(:mod:`braid.runtime._wire.trace_exporting`). See docs/decisions/0020-tracing.md.

Where the trace context travels:

- into the ingress: the ``traceparent`` and ``tracestate`` HTTP headers or gRPC metadata;
- between braid processes: ``CallRequest.traceparent``/``tracestate`` on every call (steps,
  continuations, a join's own producers, handle calls, a sidecar's call of its worker), and
  gRPC metadata on fetches;
- in a process: OpenTelemetry's context (a context variable), so that user code's own spans
  and handle calls nest under the step that runs it;
- out of ``braid.connect``: gRPC metadata, when the calling program uses OpenTelemetry itself;
- to an HTTP model server node: the ``traceparent`` and ``tracestate`` headers of each POST.

The one piece of module state is :data:`_STATE`, set once by :func:`configure` (OpenTelemetry
keeps its tracer provider globally in the same way); every other function only reads it.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from braid.runtime._wire.errors import BraidRuntimeError

if TYPE_CHECKING:
    from braid.runtime._proto.braid_pb2 import CallRequest
    from braid.runtime._wire.spans import Spans, StreamSpan

_T = TypeVar("_T")

#: The W3C trace-context names, as headers, gRPC metadata keys and CallRequest fields.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
#: braid's own exporter: spans as JSON lines, one file per process, in BRAID_TRACES_DIR.
JSONL_EXPORTER = "jsonl"
#: What every disabled span manager returns: reusable, and free to enter.
_NOOP: contextlib.nullcontext[None] = contextlib.nullcontext()


class TracingError(BraidRuntimeError):
    """The ``OTEL_*`` settings name an exporter that cannot be set up."""


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """Which exporters to send spans to; none means tracing is off.

    Read from the standard variables (:meth:`from_environ`): ``OTEL_TRACES_EXPORTER`` (a comma
    list: ``otlp``, ``console``, ``jsonl`` or any exporter an installed package registers;
    ``none`` for none), else ``otlp`` when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; ``OTEL_SDK_DISABLED=true`` turns it all off.
    The SDK itself reads the rest (sampler, resource, endpoint, batching).
    """

    exporters: tuple[str, ...] = ()
    #: The folder of the ``jsonl`` exporter's files (``BRAID_TRACES_DIR``).
    jsonl_dir: Path | None = None
    #: ``OTEL_SERVICE_NAME``, which wins over braid's default service names.
    service_name: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.exporters)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TracingSettings:
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return cls()
        names = [
            name.strip().lower()
            for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",")
            if name.strip()
        ]
        otlp_endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        )
        if not names and otlp_endpoint:
            names = ["otlp"]
        exporters = tuple(dict.fromkeys(name for name in names if name != "none"))
        directory = environ.get("BRAID_TRACES_DIR", "").strip()
        if JSONL_EXPORTER in exporters and not directory:
            raise TracingError(
                "OTEL_TRACES_EXPORTER names jsonl, which writes one file per process into "
                "BRAID_TRACES_DIR: set BRAID_TRACES_DIR to a folder"
            )
        return cls(
            exporters=exporters,
            jsonl_dir=Path(directory) if directory else None,
            service_name=environ.get("OTEL_SERVICE_NAME", "").strip(),
        )


class _State:
    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: Spans | None = None


_STATE = _State()


def configure(settings: TracingSettings, *, service: str, attributes: Mapping[str, str]) -> None:
    """Set up tracing for this process, once, if ``settings`` name an exporter.

    ``service`` is the default ``service.name`` (``braid-sidecar``...); ``attributes`` go on
    every span of the process (the replica's address, the node it hosts). Raises
    :class:`TracingError` for an exporter that is not installed.
    """
    if not settings.enabled or _STATE.spans is not None:
        return
    from braid.runtime._wire.trace_exporting import start_provider  # noqa: PLC0415

    install(start_provider(settings, service=service, attributes=attributes))


def install(spans: Spans | None) -> Spans | None:
    """Make ``spans`` this process's (None: tracing off); returns the previous ones. The seam
    :func:`configure` uses, and tests with the SDK's in-memory exporter."""
    previous, _STATE.spans = _STATE.spans, spans
    return previous


def shutdown() -> None:
    """Export what is still buffered and stop the exporters (at a process's exit)."""
    spans = _STATE.spans
    if spans is not None:
        spans.shutdown()


def enabled() -> bool:
    return _STATE.spans is not None


# -- spans ---------------------------------------------------------------------------------------


def request_span(
    graph: str, protocol: str, carrier: Mapping[str, str] | Iterable[tuple[str, Any]] | None
) -> contextlib.AbstractContextManager[None]:
    """The ingress's span of one graph request, continuing the caller's trace when the headers
    or metadata in ``carrier`` carry one; current inside the block."""
    spans = _STATE.spans
    if spans is None:
        return _NOOP
    return spans.request(graph, protocol, carrier)


def call_span(request: CallRequest, node: str) -> contextlib.AbstractContextManager[None]:
    """A sidecar's span of one call (a step, or a handle call when ``request.step`` is empty),
    child of the trace context the request carries (else of the current span: a co-located
    member's call); current inside the block, failures recorded."""
    spans = _STATE.spans
    if spans is None:
        return _NOOP
    return spans.call(request, node)


def stream_span(request: CallRequest, node: str) -> StreamSpan | None:
    """:func:`call_span` for a streaming call, made current for the rest of the calling task
    (a gRPC handler's own): end it with :func:`end_stream_span`. None when tracing is off."""
    spans = _STATE.spans
    if spans is None:
        return None
    return spans.stream(request, node)


def end_stream_span(span: StreamSpan | None, error: BaseException | None = None) -> None:
    if span is not None:
        span.end(error)


def handle_span(request: CallRequest) -> contextlib.AbstractContextManager[None]:
    """The caller's span of a handle call from user code; its context goes into ``request``."""
    spans = _STATE.spans
    if spans is None:
        return _NOOP
    return spans.handle(request)


async def traced_handle_stream(request: CallRequest, items: AsyncIterator[_T]) -> AsyncIterator[_T]:
    """The items of a streaming handle call, within the caller's span of it. The span is never
    made current: sync user code pulls each item in a task of its own."""
    spans = _STATE.spans
    if spans is None:
        async for item in items:
            yield item
        return
    span = spans.handle_stream(request)
    error: BaseException | None = None
    try:
        async for item in items:
            yield item
    except BaseException as exc:
        error = exc
        raise
    finally:
        span.end(error)


def fetch_span(step: str) -> contextlib.AbstractContextManager[None]:
    """The consumer's span of one fetch of an upstream value (the wait for it included)."""
    spans = _STATE.spans
    if spans is None:
        return _NOOP
    return spans.fetch(step)


def fail_current(error: BaseException) -> None:
    """Mark the current span failed with ``error`` (caught and answered inside its block)."""
    spans = _STATE.spans
    if spans is not None:
        spans.fail_current(error)


# -- propagation ---------------------------------------------------------------------------------


def inject(request: CallRequest) -> None:
    """Put the current trace context into ``request`` unless it carries one already (a retry,
    or a handle call whose span set it)."""
    spans = _STATE.spans
    if spans is not None and not request.traceparent:
        spans.inject_request(request)


def metadata(base: tuple[tuple[str, str], ...] | None) -> tuple[tuple[str, str], ...] | None:
    """``base`` gRPC metadata plus the current trace context (for fetches)."""
    spans = _STATE.spans
    if spans is None:
        return base
    return spans.inject_metadata(base)


def header_lines() -> str:
    """The current trace context as HTTP/1.1 header lines (``traceparent: ...\r\n``), for a
    call of an HTTP model server; "" when tracing is off."""
    spans = _STATE.spans
    if spans is None:
        return ""
    return "".join(f"{name}: {value}\r\n" for name, value in spans.inject_metadata(None) or ())


def attached(
    carrier: Iterable[tuple[str, Any]] | None,
) -> contextlib.AbstractContextManager[None]:
    """The trace context of incoming gRPC metadata, current inside the block (a fetch served
    to a peer: its log lines carry the trace id)."""
    spans = _STATE.spans
    if spans is None:
        return _NOOP
    return spans.attached(carrier)


def client_metadata() -> list[tuple[str, str]] | None:
    """Trace-context metadata for a call of ``braid.connect``: the calling program's current
    span, when that program uses OpenTelemetry (else nothing is imported and None returned)."""
    if _STATE.spans is None and "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import propagate  # noqa: PLC0415

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return list(carrier.items()) or None
