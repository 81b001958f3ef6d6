"""Optional steps, fallbacks, retries and quorum joins: read with their defaults, and each
problem named with its field path."""

from __future__ import annotations

from typing import Any

import pytest

from braid.spec import GraphInvalid, RetryOn, validate_graph


def graph(*steps: dict[str, Any], methods: list[Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": [
                {"name": "m", "class": "code:Model", "methods": methods or []},
                {"name": "spare", "class": "code:Spare"},
            ],
            "flow": {
                "steps": [
                    {"name": "a", "call": "m.run", "args": ["$input"]},
                    {"name": "b", "call": "m.run", "args": ["$input"]},
                    {"name": "c", "call": "spare.run", "args": ["$input"]},
                    *steps,
                ],
                "output": "$j",
            },
        },
    }


def join(**fields: Any) -> dict[str, Any]:
    return {"name": "j", "call": "m.join", "args": [["$a", "$b", "$c"]], **fields}


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(document)
    return [str(problem) for problem in caught.value.problems]


def test_the_fields_are_read_with_their_defaults() -> None:
    parsed = validate_graph(
        graph(
            join(
                optional=True,
                timeoutSeconds=0.5,
                fallback={"value": {"label": "unknown"}},
                retries={"attempts": 3, "retryOn": ["timeout"]},
                quorum={"min": 2, "withinSeconds": 0.2, "missingArgument": "missing"},
            ),
            methods=[{"name": "join", "idempotent": True}],
        )
    )
    step = parsed.spec.flow.steps[3]
    assert step.optional and step.timeout_seconds == 0.5
    assert step.fallback is not None and step.fallback.value == {"label": "unknown"}
    assert step.retries is not None
    assert (step.retries.attempts, step.retries.backoff_seconds) == (3, 0.05)
    assert step.retries.retry_on == [RetryOn.TIMEOUT]
    assert step.quorum is not None and step.quorum.missing_argument == "missing"
    assert parsed.spec.nodes[0].methods[0].idempotent


def test_retries_default_to_failures_where_no_code_ran() -> None:
    parsed = validate_graph(graph(join(retries={"attempts": 2})))
    retries = parsed.spec.flow.steps[3].retries
    assert retries is not None
    assert retries.retry_on == [RetryOn.UNAVAILABLE, RetryOn.OVERLOADED]


def test_a_fallback_call_counts_as_a_use_of_its_node() -> None:
    document = graph(join(optional=True, fallback={"call": "spare.rescue"}))
    document["spec"]["flow"]["steps"][2] = {"name": "c", "call": "m.run", "args": ["$input"]}
    validate_graph(document)  # "spare" is used by the fallback only: no problem


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        (
            join(fallback={"value": 1}),
            "spec.flow.steps[3].fallback: a fallback needs optional: true on the step",
        ),
        (
            join(optional=True, fallback={"value": 1, "call": "spare.run"}),
            'spec.flow.steps[3].fallback: set "value" or "call", not both',
        ),
        (
            join(optional=True, fallback={"call": "sparr.run"}),
            'spec.flow.steps[3].fallback.call: unknown node "sparr" (did you mean "spare"?)',
        ),
        (
            join(optional=True, fallback={"call": "spare._hidden"}),
            'spec.flow.steps[3].fallback.call: "_hidden" is private',
        ),
        (
            join(retries={"attempts": 2, "retryOn": ["error"]}),
            "spec.flow.steps[3].retries.retryOn: retrying on error runs m.join again after its "
            "code ran: declare it idempotent",
        ),
        (
            join(retries={"attempts": 2, "retryOn": ["timeout"]}),
            'spec.flow.steps[3].retries.retryOn: retrying on "timeout" needs the step\'s '
            "timeoutSeconds",
        ),
        (
            join(retries={"attempts": 2, "retryOn": ["later"]}),
            "spec.flow.steps[3].retries.retryOn[0]: expected one of 'unavailable', 'overloaded', "
            "'timeout' or 'error'",
        ),
        (join(retries={"attempts": 0}), "spec.flow.steps[3].retries.attempts: "),
        (join(retries={"attempts": 11}), "spec.flow.steps[3].retries.attempts: "),
        (join(timeoutSeconds=0), "spec.flow.steps[3].timeoutSeconds: "),
        (
            join(quorum={"min": 4}),
            "spec.flow.steps[3].quorum.min: 4 is more than the 3 upstream steps this step "
            "joins (a, b, c)",
        ),
        (join(quorum={"min": 0}), "spec.flow.steps[3].quorum.min: "),
        (
            {"name": "j", "call": "m.join", "args": ["$a"], "quorum": {"min": 1}},
            "spec.flow.steps[3].quorum: a quorum joins at least two upstream steps; this step "
            "refers to 1",
        ),
        (
            join(quorum={"min": 2, "missingArgument": "gone"}, kwargs={"gone": 1}),
            "spec.flow.steps[3].quorum.missingArgument: the step already passes the keyword "
            'argument "gone"',
        ),
    ],
)
def test_each_problem_names_its_field(step: dict[str, Any], problem: str) -> None:
    assert any(found.startswith(problem) for found in problems_of(graph(step))), problem


def test_a_subgraph_step_takes_none_of_them() -> None:
    """A sub-graph step runs in the ingress; the guards are the sidecars' (decision 0021)."""
    step = {
        "name": "j",
        "graph": "other",
        "args": ["$a"],
        "optional": True,
        "fallback": {"value": 0},
        "timeoutSeconds": 1,
        "retries": {"attempts": 2},
        "quorum": {"min": 1},
    }
    found = problems_of(graph(step))
    for field in ("optional", "fallback", "timeoutSeconds", "retries", "quorum"):
        assert any(
            p.startswith(f"spec.flow.steps[3].{field}") and 'a sub-graph step ("graph")' in p
            for p in found
        ), (field, found)
