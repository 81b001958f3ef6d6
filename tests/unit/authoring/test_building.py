"""Building manifests from Python: names, references, literals, dispatch, handles, and problems
reported at the Python line that declared them."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from braid.authoring import BuildInvalid, Input, bind, dispatch, graph, http_node, node


class Adder:
    def __init__(self, increment: int = 1) -> None:
        self.increment = increment

    def add(self, value: int) -> int:
        return value + self.increment


class Router:
    def __init__(self, fast: Any, slow_path: Any) -> None:
        self.fast, self.slow_path = fast, slow_path

    def route(self, value: Any) -> Any:
        return value


def shout(text: str) -> str:
    return text.upper()


@node(replicas=3, user_config={"factor": 2})
class Scaled:
    def scale(self, value: int) -> int:
        return value


def line_of(marker: str) -> int:
    """The line of this file that holds ``marker`` (a comment), for asserting source lines."""
    lines = inspect.getsource(inspect.getmodule(line_of)).splitlines()  # type: ignore[arg-type]
    return next(number for number, text in enumerate(lines, 1) if marker in text)


def test_names_come_from_the_variables_of_the_calling_scope() -> None:
    first_adder = bind(Adder, 2)
    second = bind(Adder)
    number = Input("number")
    plus_two = first_adder.add.bind(number)
    plus_three = second.add.bind(plus_two)
    manifest = graph(plus_three, name="adders").manifest()
    spec = manifest["spec"]
    assert [n["name"] for n in spec["nodes"]] == ["first-adder", "second"]
    assert spec["nodes"][0] == {
        "name": "first-adder",
        "class": "test_building:Adder",
        "init": {"increment": 2},
    }
    assert spec["flow"] == {
        "input": "number",
        "steps": [
            {"name": "plus_two", "call": "first-adder.add", "args": ["$number"]},
            {"name": "plus_three", "call": "second.add", "args": ["$plus_two"]},
        ],
        "output": "$plus_three",
    }


def test_unnamed_steps_and_nodes_take_the_method_and_class_with_a_suffix() -> None:
    def inline() -> dict[str, Any]:
        value = Input()
        return graph(bind(Adder).add.bind(bind(Adder).add.bind(value)), name="g").manifest()

    spec = inline()["spec"]
    assert [n["name"] for n in spec["nodes"]] == ["adder", "adder-2"]
    assert [(s["name"], s["call"]) for s in spec["flow"]["steps"]] == [
        ("add", "adder.add"),
        ("add-2", "adder-2.add"),
    ]
    assert spec["flow"]["output"] == "$add-2"


def test_explicit_names_override_variables() -> None:
    adder = bind(Adder).options(name="plus")
    value = Input("value")
    total = adder.add.bind(value).named("total-sum")
    spec = graph(total, name="g").manifest()["spec"]
    assert spec["nodes"][0]["name"] == "plus"
    assert spec["flow"]["steps"][0]["name"] == "total-sum"


def test_fields_items_literals_and_keyword_arguments() -> None:
    adder = bind(Adder)
    request = Input("request")
    first = adder.add.bind(request.numbers[0])
    second = adder.add.bind(
        [first.total, "$5", "$$x", {"a": (1, 2.5, None, True)}], label=request["kind"]
    )
    steps = graph(second, name="g").manifest()["spec"]["flow"]["steps"]
    assert steps[0]["args"] == ["$request.numbers.0"]
    assert steps[1]["args"] == [["$first.total", "$$5", "$$$x", {"a": [1, 2.5, None, True]}]]
    assert steps[1]["kwargs"] == {"label": "$request.kind"}


def test_function_nodes_and_decorator_options() -> None:
    shouter = bind(shout)
    scaled = bind(Scaled).options(replicas=1)
    text = Input("text")
    loud = shouter.bind(text)
    scaled_value = scaled.scale.bind(loud)
    spec = graph(scaled_value, name="g", route_prefix="/g").manifest()["spec"]
    assert spec["nodes"] == [
        {"name": "shouter", "class": "test_building:shout"},
        {
            "name": "scaled",
            "class": "test_building:Scaled",
            "replicas": 1,
            "userConfig": {"factor": 2},
        },
    ]
    assert spec["flow"]["steps"][0]["call"] == "shouter"
    assert spec["ingress"] == {"http": {"routePrefix": "/g"}}


def test_handles_are_named_after_the_constructor_argument() -> None:
    fast = bind(Adder).options(name="fast")
    router = bind(Router, fast, bind(Adder))
    value = Input()
    routed = router.route.bind(value)
    nodes = graph(routed, name="g").manifest()["spec"]["nodes"]
    assert [n["name"] for n in nodes] == ["fast", "slow-path", "router"]
    assert nodes[2]["handles"] == ["fast", "slow-path"]


def test_a_handle_named_otherwise_than_its_argument_is_reported_at_the_holder() -> None:
    router = bind(Router, fast=bind(Adder).options(name="quick"), slow_path=bind(Adder))  # HOLDER
    value = Input()
    app = graph(router.route.bind(value), name="g")
    with pytest.raises(BuildInvalid) as caught:
        app.build()
    message = str(caught.value)
    assert f"test_building.py:{line_of('# HOLDER')}:" in message
    assert 'name the argument "quick" or the node "fast"' in message


def test_dispatch_cases_default_and_non_string_keys() -> None:
    adder = bind(Adder)
    other = bind(Adder, 5)
    request = Input("request")
    chosen = dispatch(
        request.kind,
        {"one": adder.add.bind(request.value), 2: other.add.bind(request.value)},
        default=adder.add.bind(0),
    )
    steps = graph(chosen, name="g").manifest()["spec"]["flow"]["steps"]
    assert steps == [
        {
            "name": "chosen",
            "dispatch": {
                "value": "$request.kind",
                "cases": [
                    {"when": "one", "call": "adder.add", "args": ["$request.value"]},
                    {"when": "2", "call": "other.add", "args": ["$request.value"]},
                ],
                "default": {"call": "adder.add", "args": [0]},
            },
        }
    ]


def test_http_nodes() -> None:
    server = http_node(port=8081, methods={"predict": "/predict"}, readiness_path="/ready")
    text = Input("text")
    scores = server.predict.bind({"instances": [text]})
    nodes = graph(scores, name="g").manifest()["spec"]["nodes"]
    assert nodes == [
        {
            "name": "server",
            "http": {
                "port": 8081,
                "readinessPath": "/ready",
                "methods": [{"name": "predict", "path": "/predict"}],
            },
        }
    ]


def test_validation_problems_point_at_the_line_that_declared_the_node() -> None:
    adder = bind(Adder).options(replicas=-1)  # BAD REPLICAS
    value = Input()
    app = graph(adder.add.bind(value), name="g")
    with pytest.raises(BuildInvalid) as caught:
        app.build()
    [problem] = caught.value.problems
    assert problem.origin is not None and problem.origin.line == line_of("# BAD REPLICAS")
    assert problem.subject == 'node "adder"'
    assert problem.path == "spec.nodes[0].replicas"
    assert str(problem).startswith(f'{problem.origin}: node "adder" (spec.nodes[0].replicas): ')


def test_validation_problems_of_steps_and_the_graph() -> None:
    adder = bind(Adder)
    value = Input()
    clash = adder.add.bind(value).named("same")
    again = adder.add.bind(clash).named("same")  # SECOND STEP
    with pytest.raises(BuildInvalid) as caught:
        graph(again, name="Not_A_Name").build()
    text = str(caught.value)
    assert 'graph "Not_A_Name" is invalid' in text
    assert any(p.path == "metadata.name" for p in caught.value.problems)
    steps = [p for p in caught.value.problems if p.subject == 'step "same"']
    assert steps and all(p.origin is not None for p in steps)
    assert any(p.origin and p.origin.line == line_of("# SECOND STEP") for p in steps)


def test_building_twice_gives_the_same_manifest() -> None:
    adder = bind(Adder)
    value = Input()
    app = graph(adder.add.bind(adder.add.bind(value)), name="g")
    assert app.to_yaml() == app.to_yaml()
    assert app.build() == app.build()


def test_an_ingress_app_and_its_image() -> None:
    value = bind(Adder).add.bind(Input("x"))
    spec = graph(
        value, name="g", route_prefix="/g", app="api:app", ingress_image="example.com/api:1"
    ).manifest()["spec"]
    assert spec["ingress"]["http"] == {"routePrefix": "/g", "app": "api:app"}
    assert spec["ingress"]["image"] == "example.com/api:1"
