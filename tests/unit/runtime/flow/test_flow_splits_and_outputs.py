"""Weighted splits, structured outputs and intermediate results: the pure parts (choice by
weight and key, planning, assembling, refusing what a graph does not expose)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._flow.headers import allowed_headers
from braid.runtime._flow.outputs import (
    assemble,
    check_intermediates,
    parse_intermediates,
    template_sources,
)
from braid.runtime._flow.planning import plan_dispatch, plan_flow
from braid.runtime._flow.running import FlowRunner
from braid.runtime._flow.splitting import choose_split, choose_weighted, split_point
from braid.runtime._proto.braid_pb2 import CallReply, CallRequest, Payload, StreamItem
from braid.runtime._wire.client import ReplicaClient
from braid.runtime._wire.codec import encode
from braid.runtime._wire.errors import BadRequest
from braid.runtime._wire.routing import Router
from braid.spec import validate_graph


def graph(steps: list[dict[str, Any]], output: Any, **flow: Any) -> Any:
    called = {call["call"].split(".")[0] for step in steps for call in _calls(step)}
    return validate_graph(
        {
            "apiVersion": "braid.dev/v1alpha1",
            "kind": "DeploymentGraph",
            "metadata": {"name": "g"},
            "spec": {
                "nodes": [{"name": name, "class": "m:C"} for name in sorted(called)],
                "flow": {"input": "x", "steps": steps, "output": output, **flow},
            },
        }
    )


def _calls(step: dict[str, Any]) -> list[dict[str, Any]]:
    return step["split"]["cases"] if "split" in step else [step]


SPLIT = {
    "name": "s",
    "split": {
        "header": "x-user",
        "cases": [
            {"weight": 90, "call": "a.f", "args": ["$x"]},
            {"weight": 10, "call": "b.f", "args": ["$x"]},
        ],
    },
}


def test_choose_weighted_maps_the_unit_interval_onto_cumulative_weights() -> None:
    assert choose_weighted([90, 10], 0.0) == 0
    assert choose_weighted([90, 10], 0.8999) == 0
    assert choose_weighted([90, 10], 0.9) == 1
    assert choose_weighted([90, 10], 0.99999) == 1
    # A zero weight is never chosen, not even at its boundary.
    assert choose_weighted([0, 5, 0], 0.0) == 1
    assert choose_weighted([3, 0], 0.99999) == 0


def test_a_key_always_lands_in_the_same_place() -> None:
    assert split_point("user-7") == split_point("user-7")
    assert split_point("user-7") != split_point("user-8")
    assert split_point({"b": 1, "a": 2}) == split_point({"a": 2, "b": 1})  # JSON, sorted keys
    assert 0.0 <= split_point(12) < 1.0


def test_keyed_shares_follow_the_weights_over_many_keys() -> None:
    rng = random.Random(0)
    counts = Counter(choose_split([90, 10], f"user-{n}", rng) for n in range(20_000))
    assert abs(counts[1] / 20_000 - 0.10) < 0.01
    # Keys never draw from the generator: the same key gives the same case, whatever it holds.
    assert all(
        choose_split([1, 1], f"k{n}", random.Random(n)) == choose_split([1, 1], f"k{n}", rng)
        for n in range(100)
    )


def test_without_a_key_the_choice_is_drawn() -> None:
    rng = random.Random(1)
    counts = Counter(choose_split([50, 50], None, rng) for _ in range(2_000))
    assert set(counts) == {0, 1}


def test_a_split_step_is_planned_with_its_weights_and_header() -> None:
    plan = plan_flow(graph([SPLIT], "$s"))
    step = plan.step("s")
    assert step.call is None and step.weights == (90, 10) and step.split_header == "x-user"
    assert [(case.node, case.method) for case in step.cases] == [("a", "f"), ("b", "f")]
    assert step.returns and step.switch is None


def test_a_split_keyed_by_a_step_fetches_its_key() -> None:
    keyed = {**SPLIT, "split": {**SPLIT["split"], "header": None, "key": "$t.user"}}
    del keyed["split"]["header"]
    plan = plan_flow(graph([{"name": "t", "call": "c.f", "args": ["$x"]}, keyed], "$s"))
    assert plan.step("s").switch is not None and plan.step("s").switch.source == "t"
    assert plan.step("t").consumers == 1  # the split's key is one fetch of $t
    # A split is chosen per request: it is never a continuation of its key's step.
    assert "t" not in plan_dispatch(plan, output_unary=True).then


def test_a_structured_output_fetches_each_of_its_steps_once() -> None:
    steps = [
        {"name": "p", "call": "a.f", "args": ["$x"]},
        {"name": "q", "call": "b.f", "args": ["$x"]},
        {"name": "r", "call": "c.f", "args": ["$p", "$q"]},
    ]
    plan = plan_flow(graph(steps, {"first": "$p.k", "all": ["$r", "$p", "$x"]}))
    assert plan.template_steps == ("p", "r")
    assert plan.output_step is None  # no step returns its value: the ingress assembles it
    assert (plan.step("p").consumers, plan.step("q").consumers) == (2, 1)
    assert plan.step("r").consumers == 1
    # p feeds the output too, so r calls only q itself (p is stored, and fetched twice).
    assert plan_dispatch(plan, output_unary=False).nested == {"r": ("q",)}


def test_an_exposed_step_is_never_nested_in_its_join() -> None:
    steps = [
        {"name": "p", "call": "a.f", "args": ["$x"]},
        {"name": "q", "call": "b.f", "args": ["$x"]},
        {"name": "r", "call": "c.f", "args": ["$p", "$q"]},
    ]
    assert plan_dispatch(plan_flow(graph(steps, "$r")), output_unary=True).nested == {
        "r": ("p", "q")
    }
    plan = plan_flow(graph(steps, "$r", expose=["p"]))
    assert plan.expose == {"p"}
    assert plan_dispatch(plan, output_unary=True).nested == {"r": ("q",)}


def test_assemble_fills_the_template_and_names_a_missing_field() -> None:
    values = {"p": {"k": 1}, "r": [2]}
    template = {"first": "$p.k", "all": ["$r.0", "$x", "$$literal"]}
    assert assemble(template, values, flow_input="x", input_value="in") == {
        "first": 1,
        "all": [2, "in", "$literal"],
    }
    with pytest.raises(LookupError, match="no field"):
        assemble({"v": "$p.nope"}, values, flow_input="x", input_value=None)
    assert template_sources(template, {"p", "r"}) == ("p", "r")


def test_intermediates_are_parsed_and_refused_unless_exposed() -> None:
    assert parse_intermediates(" a, b ,,a") == ("a", "b")
    assert parse_intermediates(None) == ()
    check_intermediates(["a"], {"a", "b"}, "g")
    with pytest.raises(BadRequest, match=r'does not expose "c".*spec.flow.expose \(a, b\)'):
        check_intermediates(["a", "c"], {"a", "b"}, "g")
    with pytest.raises(BadRequest, match=r"\(none\)"):
        check_intermediates(["a"], set(), "g")


def test_only_allowed_headers_reach_node_code() -> None:
    headers = {
        "X-Tenant": "acme",
        "x-user-id": "7",
        "x-user-bin": "raw",
        "authorization": "secret",
        "x-tenantx": "no",
    }
    assert allowed_headers(headers, ["x-tenant", "x-user-*"]) == {
        "x-tenant": "acme",
        "x-user-id": "7",
    }
    assert allowed_headers(headers, []) == {}


class MiniClient:
    """A fake replica client: each step answers ``behaviour[step]`` (with response headers
    ``{"x-step": step}``), keeps its result for fetches, and ``stream`` steps stream."""

    def __init__(self, nodes: list[str], behaviour: dict[str, Any]) -> None:
        self.router = Router(StaticDiscovery({node: [f"{node}:1"] for node in nodes}))
        self.behaviour = behaviour
        self.shared = None
        self.calls: list[CallRequest] = []
        self.stored: dict[str, Any] = {}

    def local_choice(self, node: str) -> str | None:
        return None  # no replica in this process (decision 0024)

    def _run(self, request: CallRequest) -> Any:
        self.calls.append(request)
        value = self.behaviour[request.step]
        if request.result_key:
            self.stored[request.result_key] = value
        return value

    async def call(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> tuple[str, CallReply]:
        value = self._run(request)
        reply = CallReply(result=encode(value), response_headers={"x-step": request.step})
        for follow in request.then:
            reply.then.append((await self.call(follow, deadline=deadline))[1])
        return address or "", reply

    async def call_stream(
        self, request: CallRequest, *, deadline: float | None, address: str | None = None
    ) -> AsyncIterator[StreamItem]:
        value = self._run(request)
        if request.step == "stream":
            for item in value:
                yield StreamItem(item=encode(item), response_headers={"x-first": "yes"})
        else:
            yield StreamItem(item=encode(value), final=True, response_headers={"x-out": "1"})

    async def fetch(self, address: str, key: str, path: list[str], **kwargs: Any) -> Payload:
        return encode(self.stored[key])


def mini_runner(document: Any, behaviour: dict[str, Any], **options: Any) -> tuple[Any, Any]:
    nodes = [node.name for node in document.spec.nodes]
    client = MiniClient(nodes, behaviour)
    return FlowRunner(plan_flow(document), cast(ReplicaClient, client), **options), client


def test_a_split_keyed_by_the_input_follows_the_hash_and_is_observed() -> None:
    keyed = {**SPLIT, "split": {"key": "$x.user", "cases": SPLIT["split"]["cases"]}}
    seen: list[tuple[str, str, str]] = []
    flow_runner, client = mini_runner(
        graph([keyed], "$s"), {"s": "done"}, on_split=lambda *choice: seen.append(choice)
    )

    async def run(user: str) -> str:
        result = await flow_runner.start({"user": user}, deadline=time.monotonic() + 10)
        assert result.value.value() == "done"
        return str(client.calls[-1].node)

    users = [f"u{n}" for n in range(50)]
    nodes = [asyncio.run(run(user)) for user in users]
    assert nodes == ["ab"[choose_weighted([90, 10], split_point(user))] for user in users]
    assert [call for _, _, call in seen] == [f"{node}.f" for node in nodes]
    assert {(graph_name, step) for graph_name, step, _ in seen} == {("g", "s")}


def test_response_headers_come_from_every_reply_and_intermediates_from_fetches() -> None:
    steps = [
        {"name": "p", "call": "a.f", "args": ["$x"]},
        {"name": "q", "call": "b.f", "args": ["$p"]},
    ]
    flow_runner, _ = mini_runner(graph(steps, "$q", expose=["p"]), {"p": {"k": 1}, "q": 2})

    async def run() -> Any:
        return await flow_runner.start(1, deadline=time.monotonic() + 10, intermediates=["p"])

    result = asyncio.run(run())
    assert result.value.value() == 2
    assert result.intermediates == {"p": {"k": 1}}
    assert result.headers == {"x-step": "p", "x-out": "1"}  # every reply, the output's too


def test_intermediates_of_a_streaming_output_are_refused() -> None:
    steps = [
        {"name": "p", "call": "a.f", "args": ["$x"]},
        {"name": "stream", "call": "b.f", "args": ["$p"]},
    ]
    flow_runner, _ = mini_runner(graph(steps, "$stream", expose=["p"]), {"p": 1, "stream": [1, 2]})

    async def run() -> Any:
        return await flow_runner.start(1, deadline=time.monotonic() + 10, intermediates=["p"])

    with pytest.raises(BadRequest, match="a single output, not a stream"):
        asyncio.run(run())
