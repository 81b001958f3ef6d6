"""The rules of a node's pod settings: one source each, nothing that breaks braid's own."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from braid.spec import GraphInvalid, validate_graph


def graph(**node: Any) -> dict[str, Any]:
    with open("examples/chain/graph.yaml") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    document["spec"]["nodes"][0].update(node)
    return document


def problems(**node: Any) -> dict[str, str]:
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(graph(**node))
    return {p.path: p.message for p in caught.value.problems}


def test_the_model_weights_example_is_valid() -> None:
    with open("examples/model-weights/graph.yaml") as handle:
        assert validate_graph(yaml.safe_load(handle)).spec.nodes[0].volumes


def test_braids_volumes_and_mounts_cannot_be_shadowed() -> None:
    found = problems(
        volumes=[{"name": "tmp", "emptyDir": {}}, {"name": "w", "emptyDir": {}}],
        volumeMounts=[
            {"name": "w", "mountPath": "/etc/braid"},
            {"name": "w", "mountPath": "/var/run"},
            {"name": "nope", "mountPath": "/data"},
        ],
    )
    assert "braid's own volume" in found["spec.nodes[0].volumes[0].name"]
    assert "/etc/braid" in found["spec.nodes[0].volumeMounts[0].mountPath"]
    assert "/var/run/braid" in found["spec.nodes[0].volumeMounts[1].mountPath"]
    assert 'no volume "nope"' in found["spec.nodes[0].volumeMounts[2].name"]


def test_a_volume_and_an_env_source_need_exactly_one_source() -> None:
    found = problems(
        volumes=[{"name": "w", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "v"}],
        env=[
            {"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "B", "valueFrom": {}},
        ],
        envFrom=[{"prefix": "BRAID_X"}],
    )
    assert "exactly one" in found["spec.nodes[0].volumes[0]"]
    assert "none" in found["spec.nodes[0].volumes[1]"]
    assert "either value or valueFrom" in found["spec.nodes[0].env[0]"]
    assert "exactly one" in found["spec.nodes[0].env[1].valueFrom"]
    assert "exactly one" in found["spec.nodes[0].envFrom[0]"]
    assert "BRAID_" in found["spec.nodes[0].envFrom[0].prefix"]


def test_braids_labels_and_annotations_are_reserved() -> None:
    found = problems(
        podLabels={"braid.dev/node": "x", "app.kubernetes.io/managed-by": "me", "team": "a"},
        podAnnotations={"prometheus.io/port": "1", "ok": "1"},
    )
    assert set(found) == {
        "spec.nodes[0].podLabels.braid.dev/node",
        "spec.nodes[0].podLabels.app.kubernetes.io/managed-by",
        "spec.nodes[0].podAnnotations.prometheus.io/port",
    }


def test_a_rollout_that_can_never_start_is_refused() -> None:
    found = problems(rollout={"maxUnavailable": 0, "maxSurge": "0%"})
    assert "both be 0" in found["spec.nodes[0].rollout"]
    assert "percentage" in problems(rollout={"maxSurge": "lots"})["spec.nodes[0].rollout.maxSurge"]


def test_a_grace_period_shorter_than_the_pre_stop_pause_is_refused() -> None:
    assert "spec.nodes[0].terminationGracePeriodSeconds" in problems(
        terminationGracePeriodSeconds=5
    )
