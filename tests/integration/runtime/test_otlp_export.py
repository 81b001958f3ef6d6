"""Exporting over OTLP, as a cluster would: ``braid run`` with only the standard variable
``OTEL_EXPORTER_OTLP_ENDPOINT`` set sends its spans, batched, to a real OTLP/gRPC trace
service (opentelemetry-proto's, served by this test on loopback), one trace per request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from edge_harness import EXAMPLES, braid_run, curl
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

TRACE_ID = "4" * 32
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every exported span as (service name, span name, trace id)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            (attributes.get("service.name", ""), span.name, span.trace_id.hex())
                        )
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    found = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(found, server)
    port = server.add_insecure_port("127.0.0.1:0")  # bound by the server itself: not guessed
    server.start()
    yield found, port
    server.stop(grace=None)


def test_spans_reach_an_otlp_collector(
    collector: tuple[Collector, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found, port = collector
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")  # export within a fraction of a second
    with braid_run([EXAMPLES / "chain" / "graph.yaml"], tmp_path) as running:
        reply = curl("-d", "5", "-H", f"traceparent: {TRACEPARENT}", f"http://{running.http}/")
        assert reply.stdout.strip() == "12", reply.stderr
        end = time.monotonic() + 30
        while len([s for s in found.spans if s[2] == TRACE_ID]) < 3 and time.monotonic() < end:
            time.sleep(0.1)
    ours = sorted((service, name) for service, name, trace in found.spans if trace == TRACE_ID)
    assert ours[:1] == [("braid-ingress", "request chain")]
    assert ("braid-sidecar", "step sum") in ours and ("braid-sidecar", "step product") in ours
