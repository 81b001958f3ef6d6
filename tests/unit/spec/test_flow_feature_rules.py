"""The rules of splits, structured outputs, exposed steps and forwarded headers: each problem at
its field path."""

from __future__ import annotations

from typing import Any

import pytest

from braid.spec import GraphInvalid, Step, render_crd, step_dependencies, validate_graph


def manifest(steps: list[dict[str, Any]], output: Any, **extra: Any) -> dict[str, Any]:
    flow = {"input": "req", "steps": steps, "output": output, **extra.pop("flow", {})}
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": [{"name": "a", "class": "m:A"}, {"name": "b", "class": "m:B"}],
            "flow": flow,
            **extra,
        },
    }


def problems_of(document: dict[str, Any]) -> list[str]:
    try:
        validate_graph(document)
    except GraphInvalid as exc:
        return [str(problem) for problem in exc.problems]
    return []


def split(**fields: Any) -> dict[str, Any]:
    cases = fields.pop(
        "cases",
        [
            {"weight": 90, "call": "a.f", "args": ["$req"]},
            {"weight": 10, "call": "b.f", "args": ["$req"]},
        ],
    )
    return {"name": "s", "split": {**fields, "cases": cases}}


def test_a_split_by_header_or_by_key_is_valid_and_lists_every_call() -> None:
    graph = validate_graph(manifest([split(header="x-user-id")], "$s"))
    step = graph.spec.flow.steps[0]
    assert [call.call for call in step.calls()] == ["a.f", "b.f"]
    assert problems_of(manifest([split(key="$req.user")], "$s")) == []
    assert problems_of(manifest([split()], "$s")) == []  # random per request


def test_a_split_key_counts_as_a_dependency() -> None:
    step = Step.model_validate(split(key="$t.user"))
    assert step_dependencies(step) == {"t", "req"}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"key": "$req.u", "header": "x-u"},
            "spec.flow.steps[0].split: give key (a reference) or header (a header name), not both",
        ),
        (
            {"cases": [{"weight": 0, "call": "a.f"}, {"weight": 0, "call": "b.f"}]},
            "spec.flow.steps[0].split: every weight is 0",
        ),
        (
            {"cases": [{"weight": -1, "call": "a.f"}, {"weight": 1, "call": "b.f"}]},
            "spec.flow.steps[0].split.cases[0].weight: ",
        ),
        ({"header": "X User"}, 'spec.flow.steps[0].split.header: "X User" is not a header name'),
        ({"key": "req.user"}, "spec.flow.steps[0].split.key: expected a reference"),
        ({"key": "$nope"}, 'spec.flow.steps[0].split.key: unknown step "nope"'),
        (
            {"cases": [{"weight": 1, "call": "zz.f"}, {"weight": 1, "call": "b.f"}]},
            'spec.flow.steps[0].split.cases[0].call: unknown node "zz"',
        ),
    ],
)
def test_split_problems_name_their_field(fields: dict[str, Any], problem: str) -> None:
    found = problems_of(manifest([split(**fields)], "$s"))
    assert any(text.startswith(problem) for text in found), found


def test_a_split_step_takes_no_call_of_its_own() -> None:
    step = split() | {"call": "a.f"}
    assert problems_of(manifest([step], "$s")) == [
        'spec.flow.steps[0]: a split step takes its calls from split.cases; remove "call", '
        '"args", "kwargs" and "dispatch"'
    ]


STEPS = [
    {"name": "p", "call": "a.f", "args": ["$req"]},
    {"name": "q", "call": "b.f", "args": ["$p"]},
]


def test_a_structured_output_is_a_map_or_list_of_references() -> None:
    assert problems_of(manifest(STEPS, {"first": "$p.x", "both": ["$q", "$req"]})) == []
    assert problems_of(manifest(STEPS, ["$q", "$p"])) == []


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ({"label": "$q", "n": 3}, "spec.flow.output.n: expected a reference"),
        (["$q", "text"], 'spec.flow.output[1]: expected a reference such as "$step"'),
        ({"label": "$nope"}, 'spec.flow.output.label: unknown step "nope"'),
        ({}, "spec.flow.output: expected a reference such as"),
        (5, "spec.flow.output: expected a reference such as"),
    ],
)
def test_structured_output_problems_name_the_field(output: Any, problem: str) -> None:
    found = problems_of(manifest(STEPS, output))
    assert any(text.startswith(problem) for text in found), found


def test_every_step_must_lead_to_a_structured_output() -> None:
    found = problems_of(manifest([*STEPS, {"name": "r", "call": "a.g"}], {"v": "$q"}))
    assert found == [
        'spec.flow.steps[2]: step "r" does not lead to the output {"v":"$q"}; use its value or '
        "remove it"
    ]


def test_expose_names_known_steps_once() -> None:
    assert problems_of(manifest(STEPS, "$q", flow={"expose": ["p"]})) == []
    assert problems_of(manifest(STEPS, "$q", flow={"expose": ["p", "pp", "p"]})) == [
        'spec.flow.expose[2]: duplicate step "p"',
        'spec.flow.expose[1]: unknown step "pp" (did you mean "p"?)',
    ]


def test_forward_headers_are_lower_case_names_or_prefixes() -> None:
    good = manifest(STEPS, "$q", ingress={"forwardHeaders": ["x-tenant", "x-user-*"]})
    assert validate_graph(good).spec.ingress.forward_headers == ["x-tenant", "x-user-*"]
    bad = manifest(STEPS, "$q", ingress={"forwardHeaders": ["x-tenant", "X-Big", "a*b"]})
    found = problems_of(bad)
    assert [text.split(":")[0] for text in found] == [
        "spec.ingress.forwardHeaders[1]",
        "spec.ingress.forwardHeaders[2]",
    ]
    assert "is not a header name" in found[0]


def test_the_crd_describes_the_new_fields() -> None:
    text = str(render_crd())
    for word in ("forwardHeaders", "expose", "split", "weight"):
        assert word in text
