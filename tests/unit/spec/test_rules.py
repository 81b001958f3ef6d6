"""The graph's rules, at their boundaries (the corpus covers each rule's message once)."""

from __future__ import annotations

from typing import Any

import pytest

from braid.spec import GraphInvalid, Step, step_dependencies, validate_graph
from braid.spec._rules import GraphView, check_graph


def manifest(*steps: dict[str, Any], nodes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": nodes or [{"name": "echo", "class": "echo:Echo"}],
            "flow": {
                "steps": list(steps) or [{"name": "out", "call": "echo.run", "args": ["$input"]}],
                "output": "$out",
            },
        },
    }


def problems_of(document: dict[str, Any]) -> list[str]:
    try:
        validate_graph(document)
    except GraphInvalid as exc:
        return [str(problem) for problem in exc.problems]
    return []


def step(name: str, *args: object, call: str = "echo.run", **kwargs: object) -> dict[str, Any]:
    return {"name": name, "call": call, "args": list(args), "kwargs": kwargs}


def test_a_valid_graph_has_no_problems() -> None:
    graph = validate_graph(manifest())
    assert check_graph(GraphView.of(graph)) == []


@pytest.mark.parametrize(("length", "valid"), [(55, True), (56, False)])
def test_graph_names_leave_room_for_the_suffixes_braid_adds(length: int, valid: bool) -> None:
    document = manifest()
    document["metadata"]["name"] = "g" * length
    document["spec"]["nodes"][0]["name"] = "e"
    document["spec"]["flow"]["steps"][0]["call"] = "e.run"
    assert (problems_of(document) == []) is valid


@pytest.mark.parametrize(("length", "valid"), [(61, True), (62, False)])
def test_graph_and_node_name_fit_a_service_name(length: int, valid: bool) -> None:
    name = "n" * length  # "g-" + name: 63 characters at most
    document = manifest(
        step("out", "$input", call=f"{name}.run"), nodes=[{"name": name, "class": "m:N"}]
    )
    assert (problems_of(document) == []) is valid


@pytest.mark.parametrize("name", ["a", "a-1", "abc-def", "x9"])
def test_valid_node_names(name: str) -> None:
    document = manifest(step("out", "$input", call=name), nodes=[{"name": name, "class": "m:N"}])
    assert problems_of(document) == []


@pytest.mark.parametrize("name", ["1a", "-a", "a-", "a.b", "", "a b"])
def test_invalid_node_names(name: str) -> None:
    document = manifest(nodes=[{"name": name, "class": "m:N"}, {"name": "echo", "class": "m:E"}])
    assert any("is not a valid node name" in problem for problem in problems_of(document))


@pytest.mark.parametrize("path", ["m:A", "a.b.c:Attr", "_m:f", "m:Outer.Inner"])
def test_valid_import_paths(path: str) -> None:
    assert problems_of(manifest(nodes=[{"name": "echo", "class": path}])) == []


@pytest.mark.parametrize(
    ("gpu", "sharing", "profile", "problem"),
    [
        (1, None, None, None),
        (4, None, None, None),
        (2.0, None, None, None),
        (0.5, "timeSlicing", None, None),
        (0.5, "mps", None, None),
        (0.25, "mig", "1g.5gb", None),
        (1.5, None, None, "gpu: 1.5 is a fraction of a GPU"),
        (0, None, None, "gpu: must be a positive number of GPUs, got 0"),
        (-0.5, "mps", None, "gpu: must be a positive number of GPUs, got -0.5"),
        (1, "mps", None, "gpu: gpuSharing shares one GPU: request a fraction below 1, got 1"),
        (None, None, "1g.5gb", "gpu: gpuSharing needs a gpu request"),
        (0.5, "mig", None, 'migProfile: gpuSharing "mig" needs a migProfile such as "1g.5gb"'),
        (0.5, "timeSlicing", "1g.5gb", 'migProfile: applies only to gpuSharing "mig"'),
    ],
)
def test_gpu_requests(
    gpu: float | None, sharing: str | None, profile: str | None, problem: str | None
) -> None:
    resources = {"gpu": gpu, "gpuSharing": sharing, "migProfile": profile}
    node = {
        "name": "echo",
        "class": "m:E",
        "resources": {k: v for k, v in resources.items() if v is not None},
    }
    found = problems_of(manifest(nodes=[node]))
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1
        assert found[0].startswith(f"spec.nodes[0].resources.{problem}")


@pytest.mark.parametrize("prefix", ["/", "/content", "/v1/models", "/a.b~c", "/%20x"])
def test_valid_route_prefixes(prefix: str) -> None:
    document = manifest()
    document["spec"]["ingress"] = {"http": {"routePrefix": prefix}}
    assert problems_of(document) == []


@pytest.mark.parametrize("prefix", ["", "content", "/a/", "//a", "/a b", "/a?x=1", "/a#b"])
def test_invalid_route_prefixes(prefix: str) -> None:
    document = manifest()
    document["spec"]["ingress"] = {"http": {"routePrefix": prefix}}
    (problem,) = problems_of(document)
    assert problem.startswith(f'spec.ingress.http.routePrefix: "{prefix}" is not a route prefix')


def test_steps_may_refer_to_fields_of_the_input_and_of_earlier_steps() -> None:
    document = manifest(
        step("a", "$input.text", {"nested": ["$input.items.0"]}),
        step("out", "$a.result", "$$literal", options={"source": "$input"}),
    )
    assert problems_of(document) == []


def test_steps_may_be_listed_in_any_order() -> None:
    assert problems_of(manifest(step("out", "$a"), step("a", "$input"))) == []


def test_fan_out_and_join_are_fine() -> None:
    document = manifest(
        step("a", "$input"), step("b", "$input"), step("c", "$input"), step("out", "$a", "$b", "$c")
    )
    assert problems_of(document) == []


def test_two_cycles_are_each_reported_once() -> None:
    document = manifest(
        step("a", "$b"), step("b", "$a"), step("c", "$d"), step("d", "$c"), step("out", "$a", "$c")
    )
    assert problems_of(document) == [
        "spec.flow.steps[0]: the flow has a cycle: a -> b -> a (each step feeds the next)",
        "spec.flow.steps[2]: the flow has a cycle: c -> d -> c (each step feeds the next)",
    ]


def test_a_cycle_through_a_dispatch_value_is_found() -> None:
    dispatch = {
        "name": "a",
        "dispatch": {"value": "$b", "cases": [{"when": "x", "call": "echo.run", "args": []}]},
    }
    problems = problems_of(manifest(dispatch, step("b", "$a"), step("out", "$b")))
    assert problems == [
        "spec.flow.steps[0]: the flow has a cycle: a -> b -> a (each step feeds the next)"
    ]


def test_a_dispatch_default_is_checked_like_a_case() -> None:
    dispatch = {
        "name": "out",
        "dispatch": {
            "value": "$input.kind",
            "cases": [{"when": "x", "call": "echo.run"}],
            "default": {"call": "ecko.run", "args": ["$inptu"]},
        },
    }
    assert problems_of(manifest(dispatch)) == [
        'spec.flow.steps[0].dispatch.default.call: unknown node "ecko" (did you mean "echo"?)',
        'spec.flow.steps[0].dispatch.default.args[0]: unknown step "inptu" (did you mean "input"?)',
    ]


def test_the_output_may_pick_a_field_and_the_input_alone_is_no_step() -> None:
    document = manifest()
    document["spec"]["flow"]["output"] = "$out.label"
    assert problems_of(document) == []


def test_a_node_held_only_as_a_handle_is_used() -> None:
    nodes = [
        {"name": "echo", "class": "m:E", "handles": ["helper"]},
        {"name": "helper", "class": "m:H"},
    ]
    assert problems_of(manifest(nodes=nodes)) == []


def test_an_http_node_can_be_called_by_its_methods_only() -> None:
    nodes = [{"name": "echo", "http": {"port": 80, "methods": [{"name": "run", "path": "/run"}]}}]
    assert problems_of(manifest(nodes=nodes)) == []


def test_dunder_call_is_the_one_private_name_a_flow_may_use() -> None:
    assert problems_of(manifest(step("out", "$input", call="echo.__call__"))) == []


def test_step_dependencies_cover_calls_kwargs_and_dispatch() -> None:
    plain = Step.model_validate(step("s", "$a.x", ["$b"], "$$c", "$d e", k={"deep": "$e"}))
    assert step_dependencies(plain) == {"a", "b", "e"}
    dispatching = Step.model_validate(
        {
            "name": "s",
            "dispatch": {
                "value": "$v.kind",
                "cases": [{"when": "x", "call": "n.m", "args": ["$c1"]}],
                "default": {"call": "n.m", "kwargs": {"k": "$d1"}},
            },
        }
    )
    assert step_dependencies(dispatching) == {"v", "c1", "d1"}


def test_a_step_lists_every_call_it_may_make() -> None:
    plain = Step.model_validate(step("s", 1))
    assert [call.call for call in plain.calls()] == ["echo.run"]
    empty = Step.model_validate({"name": "s"})
    assert empty.calls() == []


@pytest.mark.parametrize("app", ["api:app", "shop.http:make.app", "_a:b"])
def test_valid_ingress_apps(app: str) -> None:
    document = manifest()
    document["spec"]["ingress"] = {"http": {"app": app}, "image": "example.com/shop:1"}
    assert problems_of(document) == []


@pytest.mark.parametrize("app", ["api", "api:", ":app", "api:app()", "my-api:app", "api app"])
def test_an_ingress_app_that_is_not_an_import_path_names_its_field(app: str) -> None:
    document = manifest()
    document["spec"]["ingress"] = {"http": {"app": app}}
    (problem,) = problems_of(document)
    assert problem.startswith(f'spec.ingress.http.app: "{app}" is not an import path')
