"""Traces across the real processes of ``braid run``, in both layouts: every process exports
its spans with braid's ``jsonl`` exporter into one folder (OTEL_TRACES_EXPORTER=jsonl,
BRAID_TRACES_DIR), and the tests rebuild the span tree from the files by parent ids.

The callers are real clients: curl with a ``traceparent`` header, grpcurl with ``traceparent``
metadata, and ``braid.connect`` from a program that has a span of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import Running, braid_run, curl, example_copy, grpcurl
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

import braid

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
GRAPHS = {
    "chain": ("chain", "graph.yaml", "/chain"),
    "languages": ("dispatch", "graph.yaml", "/languages"),
    "ensemble": ("ensemble", "graph.yaml", "/ensemble"),
}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[tuple[Running, Path]]:
    work = tmp_path_factory.mktemp(f"traces-{layout}")
    traces = work / "traces"
    files = [example_copy(f, work, graph_file=m, route=r) for f, m, r in GRAPHS.values()]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_TRACES_EXPORTER", "jsonl")
        env.setenv("BRAID_TRACES_DIR", str(traces))
        env.delenv("OTEL_SDK_DISABLED", raising=False)
        with braid_run(files, work, "--layout", layout, "--log-level", "INFO") as running:
            yield running, traces


def spans_of(traces: Path, trace_id: str, count: int) -> list[dict[str, Any]]:
    """The spans of one trace in every process's file, once ``count`` of them are written
    (an ingress's span ends just after its answer is sent)."""
    end = time.monotonic() + 30
    while True:
        found = [
            span
            for path in traces.glob("*.jsonl")
            for line in path.read_text().splitlines()
            if (span := json.loads(line))["context"]["trace_id"] == f"0x{trace_id}"
        ]
        if len(found) >= count or time.monotonic() > end:
            return found
        time.sleep(0.1)


def tree(spans: list[dict[str, Any]]) -> list[Any]:
    """``[name, [children...]]`` from the parent ids. A worker's span of a call (pod layout)
    is folded into its sidecar's span of the same call, so that both layouts draw one tree."""
    by_id = {span["context"]["span_id"]: span for span in spans}

    def folded(span: dict[str, Any]) -> bool:
        parent = by_id.get(span["parent_id"])
        return _is_worker(span) and parent is not None and parent["name"] == span["name"]

    def parent_of(span: dict[str, Any]) -> str | None:
        parent = by_id.get(span["parent_id"])
        if parent is None:
            return None
        return parent_of(parent) if folded(parent) else span["parent_id"]

    def children(span_id: str) -> list[Any]:
        found = [s for s in spans if not folded(s) and parent_of(s) == span_id]
        return sorted([s["name"], children(s["context"]["span_id"])] for s in found)

    (root,) = [s for s in spans if parent_of(s) is None]
    return [root["name"], children(root["context"]["span_id"])]


def _is_worker(span: dict[str, Any]) -> bool:
    return bool(span["resource"]["attributes"].get("service.name") == "braid-worker")


def expected(count: int, layout: str, calls: int) -> int:
    """Spans of a request: ``count`` in the process layout, one more per call in the pod one."""
    return count + (calls if layout == "pod" else 0)


def test_a_chain_continues_the_callers_trace_across_processes(
    traced: tuple[Running, Path], layout: str
) -> None:
    running, traces = traced
    assert curl("-d", "5", f"http://{running.http}/chain").stdout.strip() == "12"  # learns unary
    reply = curl("-d", "5", "-H", f"traceparent: {TRACEPARENT}", f"http://{running.http}/chain")
    assert reply.stdout.strip() == "12", reply.stderr
    spans = spans_of(traces, TRACE_ID, expected(3, layout, 2))
    assert tree(spans) == ["request chain", [["step sum", [["step product", []]]]]]
    (root,) = [span for span in spans if span["name"] == "request chain"]
    assert root["parent_id"] == f"0x{PARENT_ID}"
    services = {span["resource"]["attributes"]["service.name"] for span in spans}
    assert {"braid-ingress", "braid-sidecar"} <= services
    steps = {s["name"]: s["attributes"] for s in spans if s["name"].startswith("step")}
    assert steps["step product"]["braid.node"] == "multiplier"
    assert steps["step product"]["braid.replica"] != steps["step sum"]["braid.replica"]


def test_a_handle_call_continues_a_trace_from_grpc_metadata(
    traced: tuple[Running, Path], layout: str
) -> None:
    running, traces = traced
    trace_id = "1" * 32
    data = json.dumps(
        {"graph": "languages", "json": json.dumps({"language": "french", "name": "Jo"})}
    )
    header = f"traceparent: 00-{trace_id}-{PARENT_ID}-01"
    reply = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data, "-H", header)
    assert json.loads(json.loads(reply.stdout)["json"]) == "Bonjour Jo", reply.stderr
    spans = spans_of(traces, trace_id, expected(4, layout, 2))
    handle = ["handle french.say_hello", [["call french.say_hello", []]]]
    assert tree(spans) == ["request languages", [["step greeting", [handle]]]]


def test_a_fan_out_is_traced_from_the_join(traced: tuple[Running, Path], layout: str) -> None:
    running, traces = traced
    trace_id = "2" * 32
    reply = curl(
        "-d",
        '"Hello World"',
        "-H",
        f"traceparent: 00-{trace_id}-{PARENT_ID}-01",
        f"http://{running.http}/ensemble",
    )
    assert reply.returncode == 0, reply.stderr
    spans = spans_of(traces, trace_id, expected(5, layout, 4))
    leaves = [["step by-caps", []], ["step by-length", []], ["step by-vowels", []]]
    assert tree(spans) == ["request ensemble", [["step verdict", leaves]]]


def test_a_failure_is_on_its_spans_and_its_log_lines_carry_the_trace_id(
    traced: tuple[Running, Path], layout: str
) -> None:
    running, traces = traced
    trace_id = "3" * 32
    reply = curl(
        "-d",
        "{}",
        "-H",
        f"traceparent: 00-{trace_id}-{PARENT_ID}-01",
        f"http://{running.http}/languages",
    )
    assert json.loads(reply.stdout)["error"]["kind"] == "UserCodeError"
    spans = spans_of(traces, trace_id, expected(2, layout, 1))
    assert {span["status"]["status_code"] for span in spans} == {"ERROR"}
    step = next(s for s in spans if s["name"] == "step greeting" and not _is_worker(s))
    assert step["attributes"]["braid.error.kind"] == "UserCodeError"
    assert any(event["name"] == "exception" for event in step["events"])
    end = time.monotonic() + 10
    while f"trace_id={trace_id}" not in running.log.read_text() and time.monotonic() < end:
        time.sleep(0.1)
    lines = [
        line for line in running.log.read_text().splitlines() if f"trace_id={trace_id}" in line
    ]
    assert any("raised KeyError" in line for line in lines), running.log.read_text()[-3000:]


def test_braid_connect_sends_the_calling_programs_trace(
    traced: tuple[Running, Path], layout: str
) -> None:
    running, traces = traced
    tracer = TracerProvider().get_tracer("the calling program")
    with tracer.start_as_current_span("caller") as span, braid.connect(running.grpc) as client:
        assert client.graph("chain").remote(5).result() == 12
    context = span.get_span_context()
    trace_id = f"{context.trace_id:032x}"
    assert trace.get_current_span().get_span_context().is_valid is False
    spans = spans_of(traces, trace_id, expected(3, layout, 2))
    (root,) = [s for s in spans if s["name"] == "request chain"]
    assert root["parent_id"] == f"0x{context.span_id:016x}"


def test_an_open_inference_protocol_request_is_one_trace(
    traced: tuple[Running, Path], layout: str
) -> None:
    running, traces = traced
    trace_id = "5" * 32
    body = json.dumps({"inputs": [{"name": "x", "datatype": "INT64", "shape": [1], "data": [5]}]})
    reply = curl(
        "-d",
        body,
        "-H",
        f"traceparent: 00-{trace_id}-{PARENT_ID}-01",
        f"http://{running.http}/v2/models/chain/infer",
    )
    assert json.loads(reply.stdout)["outputs"][0]["data"] == [12], reply.stdout
    spans = spans_of(traces, trace_id, expected(3, layout, 2))
    assert tree(spans)[0] == "request chain"
    assert {"step sum", "step product"} <= {span["name"] for span in spans}
    (root,) = [span for span in spans if span["name"] == "request chain"]
    assert root["attributes"]["braid.protocol"] == "http-v2"
    assert root["parent_id"] == f"0x{PARENT_ID}"
