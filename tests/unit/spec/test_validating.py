"""The schema pass: documents that are not graphs, strict scalars, messages, partial parsing."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from braid.spec import (
    DeploymentGraph,
    GraphInvalid,
    ManifestError,
    Problem,
    SpecError,
    validate_graph,
)
from braid.spec._validating import format_path, suggestion


def manifest() -> dict[str, Any]:
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": [{"name": "echo", "class": "echo:Echo"}],
            "flow": {
                "steps": [{"name": "out", "call": "echo.run", "args": ["$input"]}],
                "output": "$out",
            },
        },
    }


def problems_of(document: object) -> list[str]:
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(document)
    return [str(problem) for problem in caught.value.problems]


def with_node(**fields: Any) -> dict[str, Any]:
    document = manifest()
    document["spec"]["nodes"][0].update(fields)
    return document


def test_a_valid_manifest_becomes_a_graph_with_defaults() -> None:
    graph = validate_graph(manifest())
    assert isinstance(graph, DeploymentGraph)
    node = graph.node("echo")
    assert (node.class_, node.replicas, node.max_ongoing_requests) == ("echo:Echo", None, 16)
    assert graph.spec.flow.input == "input"
    assert graph.spec.ingress.http.route_prefix == "/"
    assert graph.spec.ingress.replicas == 1
    assert graph.image_of(node) is None


def test_a_graph_round_trips_through_its_camel_case_dump() -> None:
    document = manifest()
    document["spec"]["nodes"][0].update(
        {"resources": {"cpu": 2, "memory": "1Gi"}, "autoscaling": {"maxReplicas": 3}}
    )
    graph = validate_graph(document)
    dumped = graph.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped["spec"]["nodes"][0]["resources"] == {"cpu": "2", "memory": "1Gi"}
    assert validate_graph(dumped) == graph


def test_server_set_metadata_and_unknown_status_fields_are_ignored() -> None:
    document = manifest()
    document["metadata"].update(
        {"resourceVersion": "7", "managedFields": [{}], "creationTimestamp": "2024-01-01T00:00:00Z"}
    )
    document["status"] = {"observedGeneration": 3, "futureField": 1, "conditions": []}
    graph = validate_graph(document)
    assert graph.status is not None
    assert graph.status.observed_generation == 3


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1], "expected a DeploymentGraph object (a YAML mapping), got a list"),
        ("text", "expected a DeploymentGraph object (a YAML mapping), got a plain string"),
        (None, "expected a DeploymentGraph object (a YAML mapping), got an empty document"),
        (3, "expected a DeploymentGraph object (a YAML mapping), got a number"),
        (True, "expected a DeploymentGraph object (a YAML mapping), got a boolean"),
        (
            {},
            "not a DeploymentGraph: kind is missing and apiVersion is missing; "
            'expected kind "DeploymentGraph" and apiVersion "braid.dev/v1alpha1"',
        ),
        (
            {"apiVersion": "apps/v1", "kind": "Deployment"},
            'not a DeploymentGraph: kind is "Deployment" and apiVersion is "apps/v1"; '
            'expected kind "DeploymentGraph" and apiVersion "braid.dev/v1alpha1"',
        ),
        (
            {"apiVersion": "braid.dev/v1beta1", "kind": "DeploymentGraph"},
            'apiVersion "braid.dev/v1beta1" is not served by this braid; use "braid.dev/v1alpha1"',
        ),
    ],
)
def test_documents_that_are_not_graphs_get_one_line(document: object, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        validate_graph(document)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"replicas": True}, "spec.nodes[0].replicas: expected an integer, got true"),
        ({"replicas": "2"}, 'spec.nodes[0].replicas: expected an integer, got "2"'),
        ({"replicas": 1.0}, "spec.nodes[0].replicas: expected an integer, got 1.0"),
        ({"resources": {"gpu": "1"}}, 'spec.nodes[0].resources.gpu: expected a number, got "1"'),
        ({"resources": {"gpu": True}}, "spec.nodes[0].resources.gpu: expected a number, got true"),
        (
            {"resources": {"cpu": True}},
            "spec.nodes[0].resources.cpu: "
            'expected a quantity such as "2", "500m" or "8Gi", got a boolean',
        ),
        (
            {"version": 2},
            "spec.nodes[0].version: expected a string, got 2; quote the value in YAML",
        ),
        (
            {"nodeSelector": {"zone": 1}},
            "spec.nodes[0].nodeSelector.zone: expected a string, got 1; quote the value in YAML",
        ),
        ({"image": None}, None),
        ({"autoscaling": {"maxReplicas": 2, "targetOngoingRequests": 3}}, None),
    ],
)
def test_scalars_are_strict_as_the_api_server_is(
    fields: dict[str, Any], problem: str | None
) -> None:
    document = with_node(**fields)
    if problem is None:
        validate_graph(document)
    else:
        assert problems_of(document) == [problem]


def test_enums_accept_their_string_values() -> None:
    graph = validate_graph(
        with_node(
            resources={"gpu": 0.5, "gpuSharing": "mps"},
            tolerations=[{"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute"}],
        )
    )
    assert graph.spec.nodes[0].resources.gpu_sharing == "mps"


def test_every_problem_is_listed_in_the_message() -> None:
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(with_node(replicas=-1, replcas=2))
    assert str(caught.value) == (
        "2 problems:\n"
        "  spec.nodes[0].replicas: must be at least 0, got -1\n"
        '  spec.nodes[0].replcas: unknown field (did you mean "replicas"?)'
    )
    assert isinstance(caught.value, SpecError)


def test_one_problem_is_singular() -> None:
    with pytest.raises(GraphInvalid, match=r"^1 problem:\n  spec.nodes\[0\].replicas: "):
        validate_graph(with_node(replicas=-1))


def test_a_problem_without_a_path_prints_its_message_only() -> None:
    assert str(Problem("", "broken")) == "broken"
    assert str(Problem("spec", "broken")) == "spec: broken"


def test_the_same_problem_is_reported_once() -> None:
    document = manifest()
    document["spec"]["flow"]["steps"][0]["args"] = ["$nope", "$nope"]
    assert problems_of(document) == [
        'spec.flow.steps[0].args[0]: unknown step "nope"',
        'spec.flow.steps[0].args[1]: unknown step "nope"',
    ]


def test_a_node_that_fails_in_a_core_field_is_left_out_of_the_graph_rules() -> None:
    # "class" fails the schema, so "set exactly one of class and http" must not fire as well.
    assert problems_of(with_node(**{"class": 5})) == [
        "spec.nodes[0].class: expected a string, got 5; quote the value in YAML"
    ]


def test_a_node_that_fails_in_an_optional_field_still_gets_the_graph_rules() -> None:
    document = with_node(replcas=2, resources={"gpu": 0.5})
    assert problems_of(document) == [
        'spec.nodes[0].replcas: unknown field (did you mean "replicas"?)',
        "spec.nodes[0].resources.gpu: 0.5 is a fraction of a GPU; request a whole number, or "
        "name how the GPU is shared with gpuSharing (timeSlicing, mps or mig; see docs/gpus.md)",
    ]


def test_rules_that_need_every_node_wait_until_every_node_parses() -> None:
    document = manifest()
    document["spec"]["nodes"].append({"name": "idle", "class": "m:Idle", "replicas": "x"})
    # "idle" is unused, but that is only reported once the schema problems are fixed.
    assert problems_of(document) == ['spec.nodes[1].replicas: expected an integer, got "x"']


def test_an_unknown_field_at_the_top_is_suggested() -> None:
    document = manifest()
    document["sepc"] = {}
    assert problems_of(document) == ['sepc: unknown field (did you mean "spec"?)']


def test_an_unknown_field_inside_free_json_is_allowed() -> None:
    validate_graph(with_node(init={"anything": {"goes": [1]}}, userConfig=[1, "two"]))


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("spec", "nodes", 3, "replicas"), "spec.nodes[3].replicas"),
        (("spec",), "spec"),
        ((), ""),
        (("spec", "flow", "steps", 0, "args", 2, 1), "spec.flow.steps[0].args[2][1]"),
    ],
)
def test_paths_are_written_the_kubernetes_way(loc: tuple[int | str, ...], path: str) -> None:
    assert format_path(loc) == path


def test_suggestions_come_only_when_close() -> None:
    assert suggestion("replcas", ["replicas", "image"]) == "replicas"
    assert suggestion("zzz", ["replicas", "image"]) is None


def test_long_values_are_shortened_in_messages() -> None:
    (problem,) = problems_of(with_node(replicas="x" * 200))
    assert problem.endswith("...")
    assert len(problem) < 120


def test_a_read_only_mapping_is_read_like_a_dict() -> None:
    class Body(Mapping[str, Any]):  # like kopf's Body: a mapping view over the raw object
        def __init__(self, raw: dict[str, Any]) -> None:
            self._raw = raw

        def __getitem__(self, key: str) -> Any:
            return self._raw[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._raw)

        def __len__(self) -> int:
            return len(self._raw)

    assert validate_graph(Body(manifest())).metadata.name == "g"


def test_validation_does_not_change_the_document() -> None:
    document = with_node(replcas=2)
    before = copy.deepcopy(document)
    problems_of(document)
    assert document == before
