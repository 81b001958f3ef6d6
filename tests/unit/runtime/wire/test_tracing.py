"""Tracing's settings, its no-op when off, its spans and propagation with the SDK's in-memory
exporter, the JSON-lines exporter and trace ids on log lines (docs/decisions/0020-tracing.md)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from braid.runtime._proto.braid_pb2 import CallRequest
from braid.runtime._wire import tracing
from braid.runtime._wire.errors import UserCodeError
from braid.runtime._wire.spans import Spans
from braid.runtime._wire.trace_exporting import JsonLinesExporter, _add_trace_ids, _exporter
from braid.runtime._wire.tracing import TracingError, TracingSettings

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE}-b7ad6b7169203331-01"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, into memory, for one test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = tracing.install(
        Spans(provider.get_tracer("test"), attributes={"braid.replica": "127.0.0.1:7001"})
    )
    yield exporter
    tracing.install(previous)


def test_tracing_is_off_unless_an_otel_variable_names_an_exporter() -> None:
    assert not TracingSettings.from_environ({}).enabled
    assert not TracingSettings.from_environ({"OTEL_TRACES_EXPORTER": "none"}).enabled
    assert TracingSettings.from_environ({"OTEL_TRACES_EXPORTER": "otlp"}).exporters == ("otlp",)
    both = TracingSettings.from_environ({"OTEL_TRACES_EXPORTER": "Console, otlp,none"})
    assert both.exporters == ("console", "otlp")
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}
    assert TracingSettings.from_environ(endpoint).exporters == ("otlp",)
    traces_endpoint = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}
    assert TracingSettings.from_environ(traces_endpoint).exporters == ("otlp",)
    disabled = {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp", **endpoint}
    assert not TracingSettings.from_environ(disabled).enabled
    named = TracingSettings.from_environ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "x"})
    assert named.service_name == "x"


def test_the_jsonl_exporter_needs_a_folder() -> None:
    with pytest.raises(TracingError, match="BRAID_TRACES_DIR"):
        TracingSettings.from_environ({"OTEL_TRACES_EXPORTER": "jsonl"})
    settings = TracingSettings.from_environ(
        {"OTEL_TRACES_EXPORTER": "jsonl", "BRAID_TRACES_DIR": "/tmp/t"}
    )
    assert settings.jsonl_dir == Path("/tmp/t")


def test_an_exporter_nobody_provides_is_a_clear_error() -> None:
    with pytest.raises(TracingError) as caught:
        _exporter("zipkin-thrift", TracingSettings(exporters=("zipkin-thrift",)), "braid-sidecar")
    message = str(caught.value)
    assert '"zipkin-thrift"' in message and "otlp" in message and "jsonl" in message


def test_off_every_call_is_a_shared_no_op_and_nothing_of_opentelemetry_loads() -> None:
    code = """
import sys
import braid, braid.runtime
from braid.runtime._wire import tracing
from braid.runtime._proto.braid_pb2 import CallRequest
request = CallRequest(step="s")
assert tracing.call_span(request, "n") is tracing.call_span(request, "n")
with tracing.call_span(request, "n"), tracing.handle_span(request), tracing.fetch_span("s"):
    tracing.inject(request)
assert request.traceparent == "" and tracing.stream_span(request, "n") is None
assert tracing.metadata((("a", "b"),)) == (("a", "b"),) and tracing.client_metadata() is None
loaded = sorted(name for name in sys.modules if name.startswith("opentelemetry"))
assert not loaded, loaded
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_call_continues_the_trace_its_request_carries(exported: InMemorySpanExporter) -> None:
    request = CallRequest(
        graph="chain", step="sum", node="adder", method="add", traceparent=PARENT, caller="x"
    )
    with tracing.call_span(request, "adder"):
        follow = CallRequest(step="product", node="multiplier")
        tracing.inject(follow)
    (span,) = exported.get_finished_spans()
    assert span.name == "step sum" and span.kind is SpanKind.SERVER
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    attributes = dict(span.attributes or {})
    assert attributes["braid.graph"] == "chain" and attributes["braid.node"] == "adder"
    assert attributes["braid.step"] == "sum" and attributes["braid.method"] == "add"
    assert attributes["braid.replica"] == "127.0.0.1:7001"
    # The continuation it sends carries this span as its parent.
    assert follow.traceparent == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"


def test_a_failure_is_recorded_on_the_span(exported: InMemorySpanExporter) -> None:
    request = CallRequest(step="greeting", node="classifier", method="classify")
    error = UserCodeError("node classifier raised KeyError", node="classifier", step="greeting")
    with pytest.raises(UserCodeError), tracing.call_span(request, "classifier"):
        raise error
    (span,) = exported.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "node classifier raised KeyError"
    attributes = dict(span.attributes or {})
    assert attributes["braid.error.kind"] == "UserCodeError"
    assert attributes["braid.error.node"] == "classifier"
    assert [event.name for event in span.events] == ["exception"]


def test_a_cancelled_call_is_marked_without_an_exception(exported: InMemorySpanExporter) -> None:
    with pytest.raises(asyncio.CancelledError), tracing.call_span(CallRequest(step="s"), "n"):
        raise asyncio.CancelledError
    (span,) = exported.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and not span.events
    assert dict(span.attributes or {})["braid.cancelled"] is True


def test_a_handle_call_is_a_client_span_whose_context_the_request_carries(
    exported: InMemorySpanExporter,
) -> None:
    step = CallRequest(graph="languages", step="greeting", node="classifier", method="classify")
    with tracing.call_span(step, "classifier"):
        call = CallRequest(graph="languages", node="spanish", method="say_hello")
        with tracing.handle_span(call):
            pass
    handle, outer = exported.get_finished_spans()
    assert (handle.name, handle.kind) == ("handle spanish.say_hello", SpanKind.CLIENT)
    assert handle.parent is not None and handle.parent.span_id == outer.context.span_id
    assert call.traceparent.split("-")[2] == f"{handle.context.span_id:016x}"


async def test_a_streaming_handle_call_spans_its_items(exported: InMemorySpanExporter) -> None:
    async def items() -> object:
        yield 1
        yield 2

    call = CallRequest(node="counter", method="count")
    assert [item async for item in tracing.traced_handle_stream(call, items())] == [1, 2]
    (span,) = exported.get_finished_spans()
    assert span.name == "handle counter.count" and call.traceparent


def test_the_ingress_continues_a_callers_trace_from_headers_or_metadata(
    exported: InMemorySpanExporter,
) -> None:
    with tracing.request_span("chain", "http", {"traceparent": PARENT, "accept": "*/*"}):
        pass
    with tracing.request_span("chain", "grpc", [("traceparent", PARENT), ("x", "y")]):
        pass
    with tracing.request_span("chain", "http", {}):
        pass
    http, grpc, fresh = exported.get_finished_spans()
    for span in (http, grpc):
        assert span.name == "request chain" and span.parent is not None
        assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert fresh.parent is None
    assert dict(grpc.attributes or {})["braid.protocol"] == "grpc"


def test_fetch_metadata_carries_the_current_span(exported: InMemorySpanExporter) -> None:
    base = (("braid-domain", "d"),)
    with tracing.call_span(CallRequest(step="product"), "multiplier"):
        metadata = tracing.metadata(base)
    assert metadata is not None and metadata[0] == base[0]
    assert dict(metadata)["traceparent"].startswith("00-")


def test_the_jsonl_exporter_writes_a_line_per_span(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "braid-sidecar-1.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner"):
        pass
    inner, outer = (json.loads(line) for line in path.read_text().splitlines())
    assert (inner["name"], outer["name"]) == ("inner", "outer")
    assert inner["parent_id"] == outer["context"]["span_id"]
    provider.shutdown()


def test_log_lines_carry_the_trace_id_of_the_current_span() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("braid.test.tracing")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        _add_trace_ids(logger)
        logger.warning("outside")
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("s") as span:
            logger.warning("inside %s", "a span")
        trace_id = f"{span.get_span_context().trace_id:032x}"
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "WARNING outside",
        f"WARNING inside a span trace_id={trace_id}",
    ]
    assert trace.get_current_span().get_span_context().is_valid is False


def test_an_http_model_server_gets_the_trace_in_its_headers(
    exported: InMemorySpanExporter,
) -> None:
    assert tracing.header_lines() == ""  # no span current
    with tracing.call_span(CallRequest(step="classify", traceparent=PARENT), "http-node"):
        lines = tracing.header_lines()
    (span,) = exported.get_finished_spans()
    assert lines == f"traceparent: 00-{TRACE}-{span.context.span_id:016x}-01\r\n"


def test_off_an_http_model_server_gets_no_header() -> None:
    previous = tracing.install(None)
    try:
        assert tracing.header_lines() == ""
    finally:
        tracing.install(previous)
