"""A node's own pod settings, rendered next to braid's own; GPU rollouts one at a time."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from test_rendering import KUBERNETES_VERSION, SETTINGS, by_key, chain, container, graph_of

from braid.operator import LiveNode, render
from braid.operator._pod_rendering import ModelCode
from braid.spec import RESERVED_MOUNT_PATHS, RESERVED_VOLUME_NAMES


def weights() -> dict[tuple[str, str], dict[str, Any]]:
    return by_key(render(graph_of("examples/model-weights/graph.yaml"), SETTINGS))


def pod_of(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objects["Deployment", "weights-classifier"]["spec"]["template"]
    return spec


def test_volumes_mounts_and_env_sources_reach_the_model_container_only() -> None:
    template = pod_of(weights())
    pod = template["spec"]
    names = [volume["name"] for volume in pod["volumes"]]
    assert names == ["graph", "braid-run", "tmp", "weights", "shm", "hub-token"]
    assert pod["volumes"][3] == {
        "name": "weights",
        "persistentVolumeClaim": {"claimName": "sentiment-weights", "readOnly": True},
    }
    assert pod["volumes"][4]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    model = next(c for c in pod["containers"] if c["name"] == "model")
    sidecar = next(c for c in pod["containers"] if c["name"] == "sidecar")
    mounts = {m["mountPath"]: m["name"] for m in model["volumeMounts"]}
    assert mounts["/models"] == "weights" and mounts["/dev/shm"] == "shm"
    assert mounts["/etc/braid/graph"] == "graph"  # braid's own stay
    assert {m["name"] for m in sidecar["volumeMounts"]} <= RESERVED_VOLUME_NAMES
    env = {var["name"]: var for var in model["env"]}
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hub-token", "key": "token"}}
    assert env["HOST_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.hostIP"}}
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "info"}
    assert "BRAID_POD_IP" in env
    assert model["envFrom"] == [{"configMapRef": {"name": "classifier-settings", "optional": True}}]
    assert "envFrom" not in sidecar


def test_identity_scheduling_and_start_up() -> None:
    objects = weights()
    template = pod_of(objects)
    pod = template["spec"]
    assert pod["serviceAccountName"] == "classifier"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["priorityClassName"] == "inference"
    assert pod["affinity"]["nodeAffinity"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert pod["terminationGracePeriodSeconds"] == 60
    assert pod["securityContext"]["runAsNonRoot"] is True  # braid's own stay
    for each in pod["containers"]:
        probe = each["startupProbe"]
        assert probe["periodSeconds"] * probe["failureThreshold"] == 900
    assert template["metadata"]["labels"]["team"] == "search"
    assert template["metadata"]["labels"]["braid.dev/node"] == "classifier"
    assert template["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"]
    strategy = objects["Deployment", "weights-classifier"]["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxUnavailable": 1, "maxSurge": 0}
    # The node's own account reads EndpointSlices too; the ingress keeps the graph's.
    subjects = objects["RoleBinding", "weights"]["subjects"]
    assert [s["name"] for s in subjects] == ["weights", "classifier"]
    ingress = objects["Deployment", "weights-ingress"]["spec"]["template"]["spec"]
    assert ingress["serviceAccountName"] == "weights"


def test_the_example_renders_to_valid_kubernetes_objects() -> None:
    for obj in weights().values():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_braids_own_mounts_are_the_reserved_ones() -> None:
    """The spec's reserved names and paths cover what braid renders, so validation guards them."""
    deployment = by_key(render(chain(), SETTINGS))["Deployment", "chain-adder"]
    pod = deployment["spec"]["template"]["spec"]
    assert {volume["name"] for volume in pod["volumes"]} <= RESERVED_VOLUME_NAMES
    for each in pod["containers"]:
        for mount in each["volumeMounts"]:
            assert any(mount["mountPath"].startswith(path) for path in RESERVED_MOUNT_PATHS)


def test_a_gpu_node_rolls_one_at_a_time_with_no_surge() -> None:
    gpu = by_key(render(chain(resources={"gpu": 1}), SETTINGS))["Deployment", "chain-adder"]
    assert gpu["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}
    cpu = by_key(render(chain(), SETTINGS))["Deployment", "chain-multiplier"]
    assert cpu["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "20%", "maxSurge": "25%"}


def test_a_gpu_node_with_spare_gpus_may_ask_for_a_surge() -> None:
    node = chain(resources={"gpu": 1}, rollout={"maxSurge": 1, "maxUnavailable": 0})
    deployment = by_key(render(node, SETTINGS))["Deployment", "chain-adder"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}


def test_a_versioned_node_keeps_its_image_but_takes_braids_new_worker_command() -> None:
    old = ModelCode("registry.example.com/adder:1", ["braid", "worker", "--old"], None)
    live = {"adder": LiveNode(version="1", code=old, replicas=1)}
    node = chain(version="1", image="registry.example.com/adder:2")
    model = container(by_key(render(node, SETTINGS, live))["Deployment", "chain-adder"], "model")
    assert model["image"] == "registry.example.com/adder:1"
    assert "--discovery" in model["command"]
