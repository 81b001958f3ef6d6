"""The span trees of real requests, in one process: the examples' replicas served by real gRPC
servers on loopback (one ReplicaHost per node) and called by the ingress's FlowRunner, with the
SDK's in-memory exporter collecting every span (docs/decisions/0020-tracing.md).

A chain, a fan-out into a join, a dispatch in the flow, handle calls from user code, and a
failure. test_traces_across_processes.py checks the same across ``braid run``'s processes.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._flow.planning import plan_flow
from braid.runtime._flow.running import FlowRunner
from braid.runtime._local.ports import PortReservations
from braid.runtime._replica.hosting import ReplicaHost, ReplicaSettings
from braid.runtime._wire import tracing
from braid.runtime._wire.client import ChannelPool, ReplicaClient
from braid.runtime._wire.codec import decode
from braid.runtime._wire.errors import UserCodeError
from braid.runtime._wire.routing import Router
from braid.runtime._wire.spans import Spans
from braid.spec import hosts, load_graph

EXAMPLES = Path(__file__).parents[3] / "examples"
GRAPHS = Path(__file__).parent / "graphs"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = tracing.install(Spans(provider.get_tracer("test"), attributes={}))
    yield exporter
    tracing.install(previous)


@contextlib.asynccontextmanager
async def served(manifest: Path, tmp_path: Path) -> AsyncIterator[FlowRunner]:
    """Every node of ``manifest`` served in this process, and a runner of its flow."""
    graph = load_graph(manifest)
    ports = PortReservations()
    addresses = {host.name: f"127.0.0.1:{ports.reserve('127.0.0.1')}" for host in hosts(graph)}
    peers = tmp_path / "peers.json"
    peers.write_text(json.dumps({"nodes": {name: [a] for name, a in addresses.items()}}))
    replicas = [
        ReplicaHost(
            ReplicaSettings(
                graph_file=manifest,
                node=name,
                listen=address,
                peers_file=peers,
                code_dir=manifest.parent,
                reuse_port=True,
                drain_seconds=0,
                drain_timeout=1,
            ),
            graph,
        )
        for name, address in addresses.items()
    ]
    pool = ChannelPool()
    path = list(sys.path)  # the replicas put the example's folder on it
    discovery = StaticDiscovery({name: [address] for name, address in addresses.items()})
    try:
        for replica in replicas:
            await replica.start()
        yield FlowRunner(plan_flow(graph), ReplicaClient(Router(discovery), pool))
    finally:
        await pool.close()
        for replica in replicas:
            await replica.stop()
        ports.close()
        sys.path[:] = path


async def run(runner: FlowRunner, value: Any) -> Any:
    result = await runner.start(value, deadline=time.monotonic() + 20)
    return decode(result.value.payload)


def tree(spans: tuple[ReadableSpan, ...]) -> list[Any]:
    """The spans as nested ``[name, [children...]]``, children sorted by name; every span in
    one trace, every parent present."""
    assert len({span.context.trace_id for span in spans}) == 1
    ids = {span.context.span_id for span in spans}

    def children(parent: int | None) -> list[Any]:
        found = [s for s in spans if (s.parent.span_id if s.parent else None) == parent]
        return sorted([s.name, children(s.context.span_id)] for s in found)

    (root,) = [s for s in spans if s.parent is None or s.parent.span_id not in ids]
    return [root.name, children(root.context.span_id)]


def request_spans(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    """The spans of the one request made within ``tracing.request_span``, then forget them."""
    spans = exporter.get_finished_spans()
    exporter.clear()
    return spans


async def traced(runner: FlowRunner, graph: str, value: Any) -> Any:
    with tracing.request_span(graph, "test", None):
        return await run(runner, value)


async def test_a_chain_nests_each_continuation_in_its_producer(
    tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    async with served(EXAMPLES / "chain" / "graph.yaml", tmp_path) as runner:
        assert await traced(runner, "chain", 5) == 12  # the output's method is learnt here
        first = request_spans(exported)
        assert await traced(runner, "chain", 5) == 12  # now product rides in sum's call
        second = request_spans(exported)
    # First, each step is sent by the ingress, and product fetches sum's value.
    assert tree(first) == [
        "request chain",
        [["step product", [["fetch sum", []]]], ["step sum", []]],
    ]
    # Then the continuation: sum's sidecar sends product, inside sum's span.
    assert tree(second) == ["request chain", [["step sum", [["step product", []]]]]]
    by_name = {span.name: dict(span.attributes or {}) for span in second}
    assert by_name["step sum"]["braid.node"] == "adder"
    assert by_name["step product"]["braid.method"] == "multiply"
    assert by_name["step product"]["braid.graph"] == "chain"


async def test_a_fan_out_into_a_join_is_the_joins_calls(
    tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    async with served(EXAMPLES / "ensemble" / "graph.yaml", tmp_path) as runner:
        await traced(runner, "ensemble", "Hello World")
    leaves = [["step by-caps", []], ["step by-length", []], ["step by-vowels", []]]
    assert tree(request_spans(exported)) == ["request ensemble", [["step verdict", leaves]]]


async def test_a_dispatch_in_the_flow_is_the_chosen_cases_step(
    tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    async with served(EXAMPLES / "dispatch" / "graph-declarative.yaml", tmp_path) as runner:
        value = await traced(runner, "languages", {"language": "french", "name": "Jo"})
    assert value == "Bonjour Jo"
    spans = request_spans(exported)
    assert tree(spans) == ["request languages", [["step greeting", []]]]
    step = next(span for span in spans if span.name == "step greeting")
    assert dict(step.attributes or {})["braid.node"] == "french"


async def test_a_handle_call_is_a_client_span_and_the_callees_call(
    tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    async with served(EXAMPLES / "dispatch" / "graph.yaml", tmp_path) as runner:
        value = {"language": "spanish", "name": "Dora", "text": "hola amigo"}
        assert await traced(runner, "languages", value) == "Hola Dora"
    handle = ["handle spanish.say_hello", [["call spanish.say_hello", []]]]
    assert tree(request_spans(exported)) == ["request languages", [["step greeting", [handle]]]]


async def test_a_failing_step_fails_its_span_and_the_requests(
    tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    async with served(EXAMPLES / "dispatch" / "graph.yaml", tmp_path) as runner:
        with pytest.raises(UserCodeError):
            await traced(runner, "languages", {})
    spans = {span.name: span for span in request_spans(exported)}
    step = spans["step greeting"]
    assert step.status.status_code is StatusCode.ERROR
    assert dict(step.attributes or {})["braid.error.kind"] == "UserCodeError"
    assert "KeyError" in (step.status.description or "")
    assert spans["request languages"].status.status_code is StatusCode.ERROR


async def test_sync_code_runs_in_its_steps_span_and_its_handle_calls_are_children(
    tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    async with served(GRAPHS / "traced.yaml", tmp_path) as runner:
        value = await traced(runner, "traced", 3)
    assert (value["doubled"], value["items"]) == (6, [0, 1, 2])
    spans = request_spans(exported)
    assert value["trace_id"] == f"{spans[0].context.trace_id:032x}"
    double = ["handle back.double", [["call back.double", []]]]
    count = ["handle back.count", [["call back.count", []]]]
    assert tree(spans) == ["request traced", [["step relay", [count, double]]]]
