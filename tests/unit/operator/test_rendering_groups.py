"""Rendering a co-location group: one Deployment for the group, a Service per member node."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from braid.operator import OperatorSettings, render
from braid.spec import DeploymentGraph, load_graph, validate_graph

KUBERNETES_VERSION = "1.33"
SETTINGS = OperatorSettings(runtime_image="registry.example.com/braid:test")
FUSED = "examples/fused-chain/graph.yaml"


def graph_of(path: str) -> DeploymentGraph:
    graph = load_graph(path)
    meta = graph.metadata.model_copy(update={"namespace": "ml", "uid": "uid-1"})
    return graph.model_copy(update={"metadata": meta})


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def fused(**changes: Any) -> DeploymentGraph:
    document = graph_of(FUSED).model_dump(mode="json", by_alias=True, exclude_none=True)
    document["spec"]["nodes"][1].update(changes)
    return validate_graph(document)


def test_a_group_renders_one_deployment_whose_worker_hosts_every_member() -> None:
    objects = by_key(render(graph_of(FUSED), SETTINGS))
    deployments = [name for kind, name in objects if kind == "Deployment"]
    assert deployments == ["fused-chain-pipeline", "fused-chain-ingress"]
    deployment = objects["Deployment", "fused-chain-pipeline"]
    assert deployment["spec"]["replicas"] == 2  # parse's replicas: the group's
    command = container(deployment, "model")["command"]
    assert command[command.index("--node") + 1] == "pipeline"
    sidecar = container(deployment, "sidecar")["command"]
    assert sidecar[sidecar.index("--node") + 1] == "pipeline"
    for obj in objects.values():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_each_member_keeps_a_headless_service_of_its_name_selecting_the_groups_pods() -> None:
    objects = by_key(render(graph_of(FUSED), SETTINGS))
    pods = objects["Deployment", "fused-chain-pipeline"]["spec"]["template"]["metadata"]
    for member in ("parse", "scale", "label"):
        service = objects["Service", f"fused-chain-{member}"]
        assert service["metadata"]["labels"]["braid.dev/node"] == member
        assert service["spec"]["clusterIP"] == "None"
        selector = service["spec"]["selector"]
        assert selector.items() <= pods["labels"].items()
    assert ("Service", "fused-chain-pipeline") not in objects


def test_a_members_code_change_rolls_the_group_and_its_user_config_does_not() -> None:
    def template(graph: DeploymentGraph) -> Any:
        objects = by_key(render(graph, SETTINGS))
        return objects["Deployment", "fused-chain-pipeline"]["spec"]["template"]

    before = template(graph_of(FUSED))
    assert template(fused(userConfig={"factor": 3})) == before
    assert template(fused(init={"unused": 1})) != before
