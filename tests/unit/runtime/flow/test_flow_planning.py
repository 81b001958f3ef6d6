"""Planning a flow: consumer counts, output step, argument building and dispatch choice."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from braid.runtime._flow.planning import build_call, choose_case, plan_dispatch, plan_flow
from braid.runtime._proto.braid_pb2 import Upstream
from braid.runtime._wire.codec import decode
from braid.runtime._wire.errors import BadRequest
from braid.spec import DeploymentGraph, Reference, load_graph, validate_graph

EXAMPLES = Path(__file__).parents[4] / "examples"


def graph(steps: list[dict[str, Any]], output: str, nodes: tuple[str, ...] = ("a", "b")) -> Any:
    return validate_graph(
        {
            "apiVersion": "braid.dev/v1alpha1",
            "kind": "DeploymentGraph",
            "metadata": {"name": "g"},
            "spec": {
                "nodes": [{"name": name, "class": "m:C"} for name in nodes],
                "flow": {"input": "x", "steps": steps, "output": output},
            },
        }
    )


def test_chain_counts_one_consumer_and_marks_the_output() -> None:
    plan = plan_flow(load_graph(EXAMPLES / "chain" / "graph.yaml"))
    total, product = plan.step("sum"), plan.step("product")
    assert (total.consumers, total.returns) == (1, False)
    assert (product.consumers, product.returns) == (0, True)
    assert product.producers == {"sum"}
    assert plan.output_step is product
    assert total.call is not None and (total.call.node, total.call.method) == ("adder", "add")


def test_fan_in_counts_each_reference_and_calls_without_method_use_call() -> None:
    plan = plan_flow(load_graph(EXAMPLES / "ensemble" / "graph.yaml"))
    for name in ("by-length", "by-vowels", "by-caps"):
        assert plan.step(name).consumers == 1
    verdict = plan.step("verdict")
    assert verdict.call is not None and verdict.call.method == "__call__"
    assert verdict.producers == {"by-length", "by-vowels", "by-caps"}


def test_same_reference_twice_is_one_upstream_but_different_paths_are_two() -> None:
    plan = plan_flow(
        graph(
            [
                {"name": "s", "call": "a.f", "args": ["$x"]},
                {"name": "t", "call": "b.g", "args": ["$s", "$s", "$s.k"], "kwargs": {"v": "$s"}},
            ],
            "$t",
        )
    )
    assert plan.step("s").consumers == 2
    t = plan.step("t").call
    assert t is not None and t.upstreams == (Reference("s"), Reference("s", ("k",)))


def test_the_output_path_is_kept_for_the_ingress_to_pick() -> None:
    plan = plan_flow(graph([{"name": "s", "call": "a.f", "args": ["$x"]}], "$s.field", ("a",)))
    s = plan.step("s")
    assert (s.consumers, s.returns) == (0, True)
    assert plan.output == Reference("s", ("field",))


def test_dispatch_on_a_step_counts_the_switch_fetch_and_the_busiest_case() -> None:
    plan = plan_flow(
        graph(
            [
                {"name": "s", "call": "a.f", "args": ["$x"]},
                {
                    "name": "d",
                    "dispatch": {
                        "value": "$s.kind",
                        "cases": [
                            {"when": "one", "call": "a.f", "args": ["$s"]},
                            {"when": "two", "call": "b.g", "args": ["$s.a", "$s.b"]},
                        ],
                        "default": {"call": "b.g", "args": ["$x"]},
                    },
                },
            ],
            "$d",
        )
    )
    dispatch = plan.step("d")
    assert dispatch.call is None and dispatch.returns
    assert plan.step("s").consumers == 1 + 2
    assert dispatch.producers == {"s"}


def test_dispatch_on_the_input_is_never_fetched() -> None:
    plan = plan_flow(load_graph(EXAMPLES / "dispatch" / "graph-declarative.yaml"))
    greeting = plan.step("greeting")
    assert greeting.switch == Reference("request", ("language",))
    assert greeting.producers == frozenset()


def build(call: Any, value: Any) -> tuple[Any, list[Upstream]]:
    def upstream(reference: Reference) -> Upstream:
        return Upstream(address="h:1", key=f"r/{reference.source}", path=list(reference.path))

    payload, upstreams = build_call(
        call, step="t", flow_input="x", input_value=value, upstream=upstream
    )
    return decode(payload, upstream=lambda index: f"<up {index}>"), upstreams


def test_build_call_inlines_the_input_and_marks_upstreams() -> None:
    plan = plan_flow(
        graph(
            [
                {"name": "s", "call": "a.f", "args": ["$x"]},
                {
                    "name": "t",
                    "call": "b.g",
                    "args": ["$x.name", ["$s", "$$literal"], 3],
                    "kwargs": {"deep": {"v": "$s.k.0"}},
                },
            ],
            "$t",
        )
    )
    call = plan.step("t").call
    value, upstreams = build(call, {"name": "Dora"})
    assert value == [["Dora", ["<up 0>", "$literal"], 3], {"deep": {"v": "<up 1>"}}]
    assert [(u.key, list(u.path)) for u in upstreams] == [("r/s", []), ("r/s", ["k", "0"])]


def test_a_call_that_reads_no_input_is_encoded_once_when_planned() -> None:
    # Only steps and literals: the same [args, kwargs] for every request, encoded at planning.
    plan = plan_flow(
        graph(
            [
                {"name": "s", "call": "a.f", "args": ["$x"]},
                {
                    "name": "t",
                    "call": "b.g",
                    "args": ["$s", ["$s.k", "$$literal"], 3],
                    "kwargs": {"deep": {"v": "$s.k.0"}},
                },
            ],
            "$t",
        )
    )
    reads_input, fixed = plan.step("s").call, plan.step("t").call
    assert reads_input is not None and reads_input.fixed_args is None
    assert fixed is not None and fixed.fixed_args is not None
    value, upstreams = build(fixed, {"ignored": True})
    assert value == [["<up 0>", ["<up 1>", "$literal"], 3], {"deep": {"v": "<up 2>"}}]
    assert [(u.key, list(u.path)) for u in upstreams] == [
        ("r/s", []),
        ("r/s", ["k"]),
        ("r/s", ["k", "0"]),
    ]
    # The same bytes as encoding per request would give.
    unplanned = dataclasses.replace(fixed, fixed_args=None)
    assert build(unplanned, {"ignored": True}) == (value, upstreams)


def test_build_call_names_the_step_when_the_input_lacks_a_field() -> None:
    plan = plan_flow(graph([{"name": "t", "call": "a.f", "args": ["$x.name"]}], "$t", ("a",)))
    with pytest.raises(BadRequest, match=r'step "t" needs \$x\.name'):
        build(plan.step("t").call, {"other": 1})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("french", "french.say_hello"), ("spanish", "spanish.say_hello")],
)
def test_choose_case_by_string(value: str, expected: str) -> None:
    graph_ = load_graph(EXAMPLES / "dispatch" / "graph-declarative.yaml")
    call = choose_case(plan_flow(graph_).step("greeting"), value)
    assert f"{call.node}.{call.method}" == expected


def test_choose_case_compares_non_strings_as_json_and_falls_back_to_default() -> None:
    plan = plan_flow(
        graph(
            [
                {
                    "name": "d",
                    "dispatch": {
                        "value": "$x",
                        "cases": [
                            {"when": "1", "call": "a.f"},
                            {"when": "true", "call": "b.g"},
                        ],
                        "default": {"call": "b.h"},
                    },
                }
            ],
            "$d",
        )
    )
    step = plan.step("d")
    assert choose_case(step, 1).node == "a"
    assert choose_case(step, True).node == "b"
    assert choose_case(step, "other").method == "h"


def test_choose_case_without_default_is_a_bad_request_naming_step_and_value() -> None:
    graph_: DeploymentGraph = load_graph(EXAMPLES / "dispatch" / "graph-declarative.yaml")
    with pytest.raises(BadRequest, match=r"greeting.*'german'") as caught:
        choose_case(plan_flow(graph_).step("greeting"), "german")
    assert caught.value.step == "greeting"


def test_a_chain_rides_as_continuations_once_the_output_is_known_unary() -> None:
    plan = plan_flow(
        graph(
            [
                {"name": "s", "call": "a.f", "args": ["$x"]},
                {"name": "t", "call": "b.g", "args": ["$s", "$x"]},
                {"name": "u", "call": "a.h", "args": ["$t.k"]},
            ],
            "$u",
        )
    )
    pull = plan_dispatch(plan, output_unary=False)
    assert pull.roots == ("s", "u") and pull.then == {"s": ("t",)}
    assert pull.consumers == {"s": 0, "t": 1, "u": 0} and pull.output_chain == ()
    chained = plan_dispatch(plan, output_unary=True)
    assert chained.roots == ("s",)
    assert chained.then == {"s": ("t",), "t": ("u",)}
    assert chained.consumers == {"s": 0, "t": 0, "u": 0}
    assert chained.output_chain == ("s", "t", "u")
    assert chained.output_indices() == (0, 0)


def test_a_joins_own_producers_ride_inside_its_call() -> None:
    plan = plan_flow(load_graph(EXAMPLES / "ensemble" / "graph.yaml"))
    dispatch = plan_dispatch(plan, output_unary=True)
    assert dispatch.then == {}
    assert dispatch.roots == ("verdict",)
    assert dispatch.nested == {"verdict": ("by-length", "by-vowels", "by-caps")}
    assert dispatch.consumers["by-caps"] == 0  # its value comes back in its reply
    fan = plan_flow(
        graph(
            [
                {"name": "s", "call": "a.f", "args": ["$x"]},
                {"name": "t", "call": "b.g", "args": ["$s"]},
                {"name": "u", "call": "b.h", "args": ["$s"]},
                {"name": "v", "call": "a.j", "args": ["$t", "$u"]},
            ],
            "$v",
        )
    )
    fanned = plan_dispatch(fan, output_unary=True)
    assert fanned.then == {"s": ("t", "u")}
    assert fanned.consumers == {"s": 0, "t": 1, "u": 1, "v": 0}
    assert fanned.roots == ("s", "v")


def test_only_a_producer_that_needs_nothing_and_feeds_the_join_alone_is_nested() -> None:
    plan = plan_flow(
        graph(
            [
                {"name": "p", "call": "a.f", "args": ["$x"]},  # nested in j
                {"name": "shared", "call": "a.f", "args": ["$x"]},  # two consumers
                {"name": "twice", "call": "b.f", "args": ["$x"]},  # two paths: two fetches
                {"name": "r", "call": "a.f", "args": ["$x"]},
                {"name": "after", "call": "b.f", "args": ["$r"]},  # needs a step
                {"name": "j", "call": "b.j", "args": ["$p", "$shared", "$twice.a", "$twice.b"]},
                {"name": "k", "call": "a.k", "args": ["$shared", "$after", "$j"]},
            ],
            "$k",
        )
    )
    dispatch = plan_dispatch(plan, output_unary=True)
    assert dispatch.nested == {"j": ("p",)}
    assert dispatch.roots == ("shared", "twice", "r", "j", "k")
    assert dispatch.consumers["p"] == 0 and dispatch.consumers["shared"] == 2


def test_a_producer_co_located_with_its_join_is_not_nested() -> None:
    steps = [
        {"name": "p", "call": "a.f", "args": ["$x"]},
        {"name": "q", "call": "c.f", "args": ["$x"]},
        {"name": "j", "call": "b.j", "args": ["$p", "$q"]},
    ]
    plan = plan_flow(graph(steps, "$j", nodes=("a", "b", "c")))
    assert plan_dispatch(plan, output_unary=True).nested == {"j": ("p", "q")}
    grouped = dataclasses.replace(plan, groups={"a": "ab", "b": "ab"})
    assert plan_dispatch(grouped, output_unary=True).nested == {"j": ("q",)}
