"""Batching (methods[].batching) and multiplexing: each problem names its field path."""

from __future__ import annotations

from typing import Any

import pytest

from braid.spec import GraphInvalid, validate_graph


def graph(node: dict[str, Any], **step: Any) -> dict[str, Any]:
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": [{"name": "m", "class": "code:Model", **node}],
            "flow": {
                "steps": [{"name": "s", "call": "m.run", "args": ["$input"], **step}],
                "output": "$s",
            },
        },
    }


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(document)
    return [str(problem) for problem in caught.value.problems]


def test_batching_and_multiplexing_are_read_with_their_defaults() -> None:
    parsed = validate_graph(
        graph(
            {
                "methods": [{"name": "run", "batching": {"maxBatchSize": 4}}],
                "multiplexing": {"maxModelsPerReplica": 2},
            },
            modelId="small",
        )
    )
    node = parsed.spec.nodes[0]
    assert node.methods[0].batching is not None
    assert node.methods[0].batching.max_batch_size == 4
    assert node.methods[0].batching.batch_wait_timeout_seconds == 0.01
    assert node.multiplexing is not None and node.multiplexing.loader == "load_model"
    assert parsed.spec.flow.steps[0].model_id == "small"


@pytest.mark.parametrize(
    ("batching", "problem"),
    [
        ({"maxBatchSize": 0}, "spec.nodes[0].methods[0].batching.maxBatchSize: "),
        ({"maxBatchSize": 5000}, "spec.nodes[0].methods[0].batching.maxBatchSize: "),
        (
            {"batchWaitTimeoutSeconds": -1},
            "spec.nodes[0].methods[0].batching.batchWaitTimeoutSeconds: ",
        ),
        ({"maxBatchSize": 32}, "raise maxOngoingRequests to 32 or more"),
    ],
)
def test_batch_sizes_and_waits_are_bounded(batching: dict[str, Any], problem: str) -> None:
    document = graph({"methods": [{"name": "run", "batching": batching}]})
    assert any(problem in line for line in problems_of(document)), problems_of(document)


def test_method_options_are_for_python_code_and_public_unique_methods() -> None:
    document = graph({"methods": [{"name": "_secret"}, {"name": "run"}, {"name": "run"}]})
    found = problems_of(document)
    assert any(line.startswith("spec.nodes[0].methods[0].name: ") for line in found), found
    assert any("duplicate" in line and "spec.nodes[0].methods" in line for line in found), found


def test_a_model_id_needs_a_multiplexed_node() -> None:
    assert problems_of(graph({}, modelId="small")) == [
        'spec.flow.steps[0].modelId: node "m" serves one model: a model id needs multiplexing '
        "on the node (spec.nodes[].multiplexing)"
    ]


def test_multiplexing_bounds_and_loader() -> None:
    found = problems_of(graph({"multiplexing": {"maxModelsPerReplica": 0}}))
    assert found[0].startswith("spec.nodes[0].multiplexing.maxModelsPerReplica: "), found
    assert problems_of(graph({"multiplexing": {"loader": "_load"}})) == [
        'spec.nodes[0].multiplexing.loader: "_load" is private; name a public method'
    ]
