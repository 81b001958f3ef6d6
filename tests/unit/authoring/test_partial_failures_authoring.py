"""Soft steps, timeouts, retries and quorums declared in Python build to the manifest's fields;
each method returns a new step and leaves the one it was called on alone."""

from __future__ import annotations

import pytest

from braid.authoring import BindError, BuildInvalid, Input, bind, graph


class Model:
    def predict(self, value: int) -> int:
        return value


def rescue(value: int) -> int:
    return value


def vote(scores: list[int | None], missing: list[str]) -> int:
    return len(scores)


def test_guards_and_a_quorum_build_to_their_manifest_fields() -> None:
    model = bind(Model).options(method_options=[{"name": "predict", "idempotent": True}])
    spare = bind(rescue)
    voter = bind(vote)
    value = Input("value")
    first = model.predict.bind(value).named("first").timeout(0.5).soft(fallback={"label": None})
    second = (
        model.predict.bind(value)
        .named("second")
        .retries(3, backoff=0.1, on=["error"], budget=2)
        .soft(fallback=spare.method("__call__"))
    )
    plain = model.predict.bind(value).named("third")
    joined = voter.bind([first, second, plain]).quorum(2, within=0.2, missing_argument="missing")
    steps = {
        step["name"]: step for step in graph(joined, name="g").manifest()["spec"]["flow"]["steps"]
    }
    assert steps["first"]["timeoutSeconds"] == 0.5
    assert steps["first"]["optional"] is True
    assert steps["first"]["fallback"] == {"value": {"label": None}}
    assert steps["second"]["fallback"] == {"call": "spare"}
    assert steps["second"]["retries"] == {
        "attempts": 3,
        "backoffSeconds": 0.1,
        "retryOn": ["error"],
        "budgetSeconds": 2,
    }
    assert "optional" not in steps["third"]
    assert steps["joined"]["quorum"] == {
        "min": 2,
        "withinSeconds": 0.2,
        "missingArgument": "missing",
    }


def test_each_method_returns_a_new_step() -> None:
    model = bind(Model)
    step = model.predict.bind(Input("value"))
    soft = step.soft()
    assert soft is not step
    assert step._guard == {}
    assert soft._guard == {"optional": True}


def test_a_fallback_that_is_not_json_is_refused_where_it_is_written() -> None:
    step = bind(Model).predict.bind(Input("value"))
    with pytest.raises(BindError, match="the fallback"):
        step.soft(fallback={1, 2})


def test_a_quorum_over_one_step_is_a_problem_at_its_line() -> None:
    model = bind(Model)
    only = model.predict.bind(Input("value")).quorum(1)
    with pytest.raises(BuildInvalid, match="a quorum joins at least two upstream steps"):
        graph(only, name="g").manifest()
