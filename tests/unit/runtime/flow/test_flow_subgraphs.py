"""Sub-graph steps: the ingress gathers their input, calls the other graph (in process or over
a real gRPC server), hands the output inline to consumers, and renames the sub-graph's errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
import yaml

from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._flow.planning import plan_dispatch, plan_flow
from braid.runtime._flow.running import FlowRunner
from braid.runtime._flow.subgraphs import GraphCalls, cluster_address, in_subgraph
from braid.runtime._proto import braid_pb2_grpc
from braid.runtime._proto.braid_pb2 import (
    CallReply,
    CallRequest,
    GraphReply,
    GraphRequest,
    Payload,
    StreamItem,
)
from braid.runtime._wire.client import ReplicaClient
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import (
    DeadlineExceeded,
    NotFound,
    ReplicaUnavailable,
    UserCodeError,
    error_metadata,
)
from braid.runtime._wire.routing import Router
from braid.spec import load_graph, validate_graph

EXAMPLE = Path(__file__).parents[4] / "examples" / "subgraphs"


class FakeClient:
    """Answers each step from ``behaviour`` (a value, an error, or seconds to sleep) and serves
    fetches of stored results from the same table."""

    def __init__(self, nodes: list[str], behaviour: dict[str, Any]) -> None:
        self.router = Router(StaticDiscovery({node: [f"{node}:1"] for node in nodes}))
        self.behaviour = behaviour
        self.calls: list[CallRequest] = []
        self.fetches: list[str] = []
        self.deadlines: list[float | None] = []
        self.shared = None

    def local_choice(self, node: str) -> str | None:
        return None  # no replica in this process (decision 0024)

    async def _result(self, request: CallRequest, deadline: float | None) -> Any:
        self.calls.append(request)
        self.deadlines.append(deadline)
        outcome = self.behaviour.get(request.step)
        if isinstance(outcome, float):
            await asyncio.sleep(outcome)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def call(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> tuple[str, CallReply]:
        value = await self._result(request, deadline)
        return address or "", CallReply(result=encode(value))

    async def call_stream(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> AsyncIterator[StreamItem]:
        yield StreamItem(item=encode(await self._result(request, deadline)), final=True)

    async def fetch(
        self, address: str, key: str, path: Any, *, deadline: float | None, node: str = ""
    ) -> Payload:
        step = key.rpartition("/")[2]
        self.fetches.append(step)
        return encode(self.behaviour[step])


def runner(file: str, behaviour: dict[str, Any], graphs: GraphCalls) -> tuple[FlowRunner, Any]:
    graph = load_graph(EXAMPLE / file)
    client = FakeClient([node.name for node in graph.spec.nodes], behaviour)
    flow = FlowRunner(plan_flow(graph), cast(ReplicaClient, client), graphs=graphs)
    return flow, client


def pair(
    parent: dict[str, Any], child: dict[str, Any]
) -> tuple[FlowRunner, FakeClient, FakeClient]:
    """The review graph and the scoring graph, served by one ingress (calls in process)."""
    graphs = GraphCalls()
    review, review_client = runner("graph.yaml", parent, graphs)
    scoring, scoring_client = runner("graph-scoring.yaml", child, graphs)
    graphs.serve_locally("scoring", scoring, lambda asked: time.monotonic() + min(asked or 60, 60))
    return review, review_client, scoring_client


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


SCORES = {"positive": 1, "negative": 0, "score": 1}


def test_a_subgraph_step_is_planned_as_a_root_that_fetches_its_inputs() -> None:
    plan = plan_flow(load_graph(EXAMPLE / "graph.yaml"))
    scored = plan.step("scored")
    assert scored.call is None and scored.subgraph is not None
    assert scored.subgraph.node == "scoring" and scored.calls() == (scored.subgraph,)
    assert plan.step("cleaned").consumers == 2  # the ingress's fetch and the judge's
    dispatch = plan_dispatch(plan, output_unary=True)
    assert "scored" in dispatch.roots and "verdict" in dispatch.roots
    assert "scored" not in dispatch.then and "scored" not in dispatch.nested


async def test_the_subgraph_runs_in_process_and_its_output_reaches_the_consumer_inline() -> None:
    verdict = {"text": "good", "score": 1, "verdict": "publish"}
    review, parent, child = pair(
        {"cleaned": "good", "verdict": verdict}, {"words": ["good"], "score": SCORES}
    )
    result = await review.start("Good!", deadline=soon())
    assert decode(result.value.payload) == verdict
    assert parent.fetches == ["cleaned"]  # the ingress fetched the sub-graph's input
    sent = {request.step: request for request in parent.calls}
    (_, from_subgraph) = sent["verdict"].upstreams
    assert not from_subgraph.address and decode(from_subgraph.value) == SCORES
    assert decode(child.calls[0].args) == [["good"], {}]  # the sub-graph's input


async def test_a_failing_subgraph_names_itself_its_node_and_step_and_the_parents_step() -> None:
    boom = UserCodeError(
        'node "lexicon" (step "score") raised ValueError: empty',
        node="lexicon",
        step="score",
        exc_type="ValueError",
        exc_message="empty",
    )
    review, parent, _ = pair({"cleaned": ""}, {"words": [], "score": boom})
    with pytest.raises(UserCodeError) as caught:
        await review.start("", deadline=soon())
    error = caught.value
    assert (error.node, error.step, error.exc_type) == ("scoring/lexicon", "scored", "ValueError")
    assert error.message.startswith('sub-graph "scoring" (called by step "scored") failed: ')
    assert 'node "lexicon" (step "score")' in error.message
    assert all(request.step != "verdict" for request in parent.calls)  # never fed the error


async def test_the_parents_deadline_carries_into_the_subgraph() -> None:
    review, _, child = pair({"cleaned": "slow"}, {"score": 30.0})
    deadline = soon(0.3)
    with pytest.raises(DeadlineExceeded) as caught:
        await review.start("slow", deadline=deadline)
    assert caught.value.step == "scored" and caught.value.node.startswith("scoring")
    assert child.deadlines and all(d is not None and d <= deadline for d in child.deadlines)


async def test_an_unknown_subgraph_is_a_clear_error_at_request_time() -> None:
    review, _ = runner("graph.yaml", {"cleaned": "x"}, GraphCalls())
    with pytest.raises(NotFound) as caught:
        await review.start("x", deadline=soon())
    assert caught.value.step == "scored"
    assert 'does not serve graph "scoring"' in caught.value.message
    assert "--graph-address scoring=HOST:PORT" in caught.value.message


def test_the_cluster_address_is_the_ingress_service() -> None:
    assert cluster_address("scoring") == "scoring-ingress:9000"
    assert cluster_address("scoring", "vision") == "scoring-ingress.vision.svc:9000"


class FakeIngress(braid_pb2_grpc.GraphServicer):
    """A real gRPC braid.v1.Graph server that records what it got and answers as told."""

    def __init__(self) -> None:
        self.seen: list[tuple[GraphRequest, float | None, dict[str, str]]] = []

    async def Invoke(self, request: GraphRequest, context: grpc.aio.ServicerContext) -> GraphReply:
        metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
        self.seen.append((request, context.time_remaining(), metadata))
        value = decode(request.payload)
        if value == "fail":
            error = UserCodeError(
                'node "lexicon" (step "score") raised KeyError: x',
                node="lexicon",
                step="score",
                exc_type="KeyError",
                exc_message="x",
            )
            await context.abort(
                grpc.StatusCode.INTERNAL, error.message, trailing_metadata=error_metadata(error)
            )
        return GraphReply(json=json.dumps({"echo": value}))


@pytest.fixture
async def remote() -> AsyncIterator[tuple[FakeIngress, str]]:
    server = grpc.aio.server()
    ingress = FakeIngress()
    braid_pb2_grpc.add_GraphServicer_to_server(ingress, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield ingress, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_a_remote_subgraph_gets_the_timeout_the_metadata_and_the_input(
    remote: tuple[FakeIngress, str],
) -> None:
    ingress, address = remote
    calls = GraphCalls(
        {"scoring": address}, outgoing_metadata=lambda: [("traceparent", "00-abc-def-01")]
    )
    try:
        value = await calls.call(
            "scoring", ["a", 1], step="scored", deadline=soon(20), model_id="m7"
        )
        assert value == {"echo": ["a", 1]}
        request, timeout, metadata = ingress.seen[0]
        assert request.graph == "scoring"
        assert timeout is not None and 0 < timeout <= 20
        assert metadata["traceparent"] == "00-abc-def-01"
        assert metadata["braid-model-id"] == "m7"
        with pytest.raises(UserCodeError) as caught:
            await calls.call("scoring", "fail", step="scored", deadline=soon())
        assert isinstance(caught.value, KeyError)  # a built-in type stays catchable
        assert (caught.value.node, caught.value.step) == ("scoring/lexicon", "scored")
        assert caught.value.message.startswith('sub-graph "scoring" (called by step "scored")')
    finally:
        await calls.close()


async def test_a_remote_subgraph_that_is_down_is_unavailable_and_named() -> None:
    calls = GraphCalls({"scoring": "127.0.0.1:1"})
    try:
        with pytest.raises(ReplicaUnavailable) as caught:
            await calls.call("scoring", 1, step="scored", deadline=soon())
        assert caught.value.node == "scoring" and caught.value.step == "scored"
        assert 'the ingress of graph "scoring" at 127.0.0.1:1' in caught.value.message
    finally:
        await calls.close()


def test_a_late_node_inside_is_named_and_the_caller_explains_its_own_deadline() -> None:
    late = DeadlineExceeded(
        'deadline exceeded waiting for node "sleepy": the request\'s deadline of 1.5 s passed; '
        "raise spec.ingress.requestTimeoutSeconds",
        node="sleepy",
        step="nap",
    )
    renamed = in_subgraph(late, graph="sleeper", step="slept")
    assert renamed.message == (
        'sub-graph "sleeper" (called by step "slept") failed at node "sleepy", step "nap": '
        'deadline exceeded waiting for node "sleepy"'
    )
    assert (renamed.node, renamed.step) == ("sleeper/sleepy", "slept")


def test_a_join_on_a_subgraph_leaves_its_other_producers_to_start_at_once() -> None:
    manifest = yaml.safe_load((EXAMPLE / "graph.yaml").read_text())
    steps = manifest["spec"]["flow"]["steps"]
    steps[0]["args"] = ["$review"]
    steps[1]["args"] = ["$review"]  # now "cleaned" needs no step and feeds only the join
    plan = plan_flow(validate_graph(manifest))
    dispatch = plan_dispatch(plan, output_unary=True)
    assert dispatch.nested == {}  # not nested in the join, which waits for the sub-graph
    assert set(dispatch.roots) == {"cleaned", "scored", "verdict"}
