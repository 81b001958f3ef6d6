"""Authoring splits, structured outputs, exposed steps and forwarded headers in Python."""

from __future__ import annotations

import pytest

from braid.authoring import BindError, BuildInvalid, Input, bind, graph, split


class Stable:
    def run(self, value: str) -> str:
        return value


class Canary:
    def run(self, value: str) -> str:
        return value


def test_a_split_builds_its_cases_weights_and_key() -> None:
    stable, canary = bind(Stable), bind(Canary)
    request = Input("request")
    chosen = split(
        [(95, stable.run.bind(request.text)), (5, canary.run.bind(request.text))],
        key=request.user,
    )
    flow = graph(chosen, name="g").manifest()["spec"]["flow"]
    assert flow["steps"] == [
        {
            "name": "chosen",
            "split": {
                "key": "$request.user",
                "cases": [
                    {"call": "stable.run", "args": ["$request.text"], "weight": 95},
                    {"call": "canary.run", "args": ["$request.text"], "weight": 5},
                ],
            },
        }
    ]


def test_a_split_by_header_and_a_structured_output_with_exposed_steps() -> None:
    stable, canary = bind(Stable), bind(Canary)
    name = Input("name")
    first = stable.run.bind(name)
    second = split([(1, canary.run.bind(first))], header="x-user")
    app = graph(
        {"both": [first, second], "again": second},
        name="g",
        expose=[first],
        forward_headers=["x-tenant"],
    )
    spec = app.manifest()["spec"]
    assert spec["flow"]["output"] == {"both": ["$first", "$second"], "again": "$second"}
    assert spec["flow"]["expose"] == ["first"]
    assert spec["flow"]["steps"][1]["split"]["header"] == "x-user"
    assert spec["ingress"] == {"forwardHeaders": ["x-tenant"]}


def test_a_step_exposed_but_not_in_the_flow_is_reported_at_its_line() -> None:
    stable = bind(Stable)
    name = Input("name")
    used = stable.run.bind(name)
    unused = stable.run.bind(name)  # the marker line
    with pytest.raises(BuildInvalid, match="is in expose= but the output does not depend on it"):
        graph(used, name="g", expose=[unused]).build()


def test_bad_splits_and_outputs_are_refused_where_they_are_written() -> None:
    stable = bind(Stable)
    name = Input("name")
    call = stable.run.bind(name)
    with pytest.raises(BindError, match="key or header, not both"):
        split([(1, stable.run.bind(name))], key=name, header="x-a")
    with pytest.raises(BindError, match="needs at least one"):
        split([])
    with pytest.raises(BindError, match="the weight must be an int"):
        split([("90", stable.run.bind(name))])  # type: ignore[list-item]
    with pytest.raises(BindError, match=r"a \(weight, call\) pair"):
        split([stable.run.bind(name)])  # type: ignore[list-item]
    with pytest.raises(BindError, match="a map or list of flow values"):
        graph({"a": call, "b": 3}, name="g")
    with pytest.raises(BindError, match="a map or list of flow values"):
        graph({}, name="g")
    with pytest.raises(BindError, match="expose= takes steps"):
        graph(call, name="g", expose=[name])  # type: ignore[list-item]


def test_a_split_weight_problem_is_reported_with_its_manifest_path() -> None:
    stable, canary = bind(Stable), bind(Canary)
    name = Input("name")
    chosen = split([(0, stable.run.bind(name)), (0, canary.run.bind(name))])
    pattern = r'_authoring\.py:\d+: step "chosen" \(spec\.flow\.steps\[0\]\.split\): every weight'
    with pytest.raises(BuildInvalid, match=pattern):
        graph(chosen, name="g").build()
