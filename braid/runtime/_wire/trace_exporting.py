"""Setting up the OpenTelemetry SDK for one braid process, and braid's JSON-lines exporter.

Imported by :func:`braid.runtime._wire.tracing.configure` only, once an ``OTEL_*`` variable
turns tracing on. The SDK reads its own variables (``OTEL_TRACES_SAMPLER``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*``); braid picks the
exporters by name, as ``opentelemetry-instrument`` does: ``jsonl`` is braid's own, every other
name is an ``opentelemetry_traces_exporter`` entry point (``otlp`` and ``console`` among them,
``otlp`` from the ``braid[otel]`` extra).

Log lines: every handler of the root logger gets a formatter that appends
``trace_id=<32 hex digits>`` to a line logged while a span is current.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from braid._version import __version__
from braid.runtime._wire.spans import Spans
from braid.runtime._wire.tracing import JSONL_EXPORTER, TracingError, TracingSettings

_EXPORTER_GROUP = "opentelemetry_traces_exporter"


def start_provider(
    settings: TracingSettings, *, service: str, attributes: Mapping[str, str]
) -> Spans:
    """Install a tracer provider with ``settings``' exporters as the global one; returns the
    :class:`Spans` that make braid's spans with it."""
    resource = Resource.create(
        {
            "service.name": settings.service_name or service,
            "service.version": __version__,
            **attributes,
        }
    )
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
    for name in settings.exporters:
        exporter = _exporter(name, settings, service)
        # braid's file exporter writes at once (a test reads the files while the processes
        # run); the others batch, off the event loop, as the SDK advises.
        processor = (
            SimpleSpanProcessor(exporter)
            if name == JSONL_EXPORTER
            else BatchSpanProcessor(exporter)
        )
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _add_trace_ids(logging.getLogger())
    tracer = provider.get_tracer("braid", __version__)
    return Spans(tracer, attributes=attributes, shutdown=provider.shutdown)


def _exporter(name: str, settings: TracingSettings, service: str) -> SpanExporter:
    if name == JSONL_EXPORTER:
        directory = settings.jsonl_dir
        if directory is None:  # pragma: no cover - TracingSettings requires it
            raise TracingError("the jsonl exporter needs BRAID_TRACES_DIR")
        return JsonLinesExporter(directory / f"{service}-{os.getpid()}.jsonl")
    found = entry_points(group=_EXPORTER_GROUP, name=name)
    if not found:
        known = sorted({JSONL_EXPORTER, *(ep.name for ep in entry_points(group=_EXPORTER_GROUP))})
        hint = " (install braid[otel] for otlp)" if name.startswith("otlp") else ""
        raise TracingError(
            f'OTEL_TRACES_EXPORTER names "{name}", which no installed package provides{hint}; '
            f"installed: {', '.join(known)}"
        )
    try:
        exporter_class = next(iter(found)).load()
        exporter: SpanExporter = exporter_class()
    except Exception as exc:  # a broken plugin, or its settings: say which
        raise TracingError(
            f'the trace exporter "{name}" cannot start: {type(exc).__name__}: {exc}'
        ) from exc
    return exporter


class JsonLinesExporter(SpanExporter):
    """Writes each span as one line of JSON (the SDK's own ``to_json``) to a file of this
    process, flushed at once: a test, or a person, reads the spans of every process of a
    ``braid run`` from one folder."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            self._file.write(lines)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class _TraceIdFormatter(logging.Formatter):
    """A handler's own format, plus `` trace_id=...`` while a span is current."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            return f"{text} trace_id={context.trace_id:032x}"
        return text


def _add_trace_ids(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        current: Any = handler.formatter
        if isinstance(current, _TraceIdFormatter):
            continue
        if current is None or type(current) is logging.Formatter:
            fmt = current._fmt if current is not None else None
            datefmt = current.datefmt if current is not None else None
            handler.setFormatter(_TraceIdFormatter(fmt, datefmt))
