"""Inference nodes (Open Inference Protocol servers) declared in Python."""

from __future__ import annotations

import pytest

from braid.authoring import BindError, Input, graph, inference_node


def test_an_inference_node_builds_to_the_manifests_inference_field() -> None:
    scaler = inference_node(
        model="scaler", port=8500, model_version="2", command=["python", "-m", "srv"], replicas=2
    )
    built = graph(scaler.infer.bind(Input("values")), name="v2").build()
    (node,) = built.spec.nodes
    assert node.inference is not None
    assert (node.inference.model, node.inference.version, node.inference.port) == (
        "scaler",
        "2",
        8500,
    )
    assert node.inference.command == ["python", "-m", "srv"]
    assert node.replicas == 2 and node.class_ is None
    assert built.spec.flow.steps[0].call == "scaler.infer"


def test_an_inference_node_has_only_infer() -> None:
    scaler = inference_node(model="scaler", port=8500)
    with pytest.raises(
        BindError, match=r'the inference node has no method "predict"; call its model with \.infer'
    ):
        scaler.predict.bind(Input("values"))
