"""Rendering of an inference node: its v2 server in the model container, probed by protocol."""

from __future__ import annotations

from typing import Any

from braid.operator import OperatorSettings, render
from braid.spec import DeploymentGraph, load_graph

SETTINGS = OperatorSettings(runtime_image="registry.example.com/braid:test")


def _graph(protocol: str) -> DeploymentGraph:
    graph = load_graph("examples/inference-chain/graph.yaml")
    data = graph.model_dump(by_alias=True, mode="json", exclude_none=True)
    data["metadata"]["namespace"] = "ml"
    data["spec"]["nodes"][0]["inference"]["protocol"] = protocol
    return DeploymentGraph.model_validate(data)


def _model_container(graph: DeploymentGraph) -> tuple[dict[str, Any], dict[str, Any]]:
    objects = render(graph, SETTINGS)
    deployment = next(
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "inference-chain-scaler"
    )
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    return containers["model"], containers["sidecar"]


def test_an_http_inference_node_is_probed_at_the_v2_ready_path() -> None:
    model, sidecar = _model_container(_graph("http"))
    assert model["command"] == ["python", "-m", "v2_server"]
    assert model["ports"] == [{"name": "http", "containerPort": 8500, "protocol": "TCP"}]
    assert model["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8500}
    assert sidecar["command"][sidecar["command"].index("--http-port") + 1] == "8500"
    assert "--worker-socket" not in sidecar["command"]


def test_a_grpc_inference_node_is_probed_with_grpc_health() -> None:
    model, _ = _model_container(_graph("grpc"))
    assert model["ports"][0]["name"] == "grpc-model"
    assert model["readinessProbe"]["grpc"] == {"port": 8500, "service": ""}
    assert model["startupProbe"]["grpc"] == {"port": 8500, "service": ""}
