"""Names, labels, ports and owner references of the objects one graph renders to.

Every object braid renders carries the same label set, so that the operator finds (and prunes)
exactly the objects of one graph with one selector, and ``kubectl get all -l braid.dev/graph=X``
shows a graph at a glance. Object names are ``<graph>-<node>`` and ``<graph>-ingress``; the spec's
validation keeps those within 63 characters.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from braid.spec import GROUP_VERSION, KIND, DeploymentGraph

#: A Kubernetes object as the API speaks it (JSON). Kubernetes objects are large and open-ended;
#: the renderer builds them as plain dicts and the tests check them against the real schemas.
KubeObject = dict[str, Any]

FIELD_MANAGER = "braid"
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"
GRAPH_LABEL = "braid.dev/graph"
NODE_LABEL = "braid.dev/node"
COMPONENT_LABEL = "braid.dev/component"
#: On a node's pod template: the node's code version, read back to gate rollouts.
VERSION_ANNOTATION = "braid.dev/version"
#: On a node's Deployment (not its template): the model code braid chose, as JSON, so that a
#: hand edit of the running image is reverted while the node's ``version`` pins its code.
MODEL_CODE_ANNOTATION = "braid.dev/model-code"
#: On a node's pod template: a digest of what its replicas construct (class, init, handles).
CODE_ANNOTATION = "braid.dev/code-digest"
#: On the ingress pod template: a digest of the flow and ingress settings it serves.
FLOW_ANNOTATION = "braid.dev/flow-digest"
#: Per-graph switches that override the operator's settings ("true" or "false").
PDB_ANNOTATION = "braid.dev/pod-disruption-budget"
#: On a node's Deployment: the autoscaler's last decision, for the status and humans.
SCALING_REASON_ANNOTATION = "braid.dev/scaling-reason"
NETWORK_POLICY_ANNOTATION = "braid.dev/network-policy"

GRAPH_DIR = "/etc/braid/graph"
GRAPH_FILE = f"{GRAPH_DIR}/graph.json"
GRAPH_KEY = "graph.json"
SOCKET_DIR = "/var/run/braid"
WORKER_SOCKET = f"{SOCKET_DIR}/worker.sock"
#: Large values between the sidecar and the worker (decision 0012): the same emptyDir as the
#: socket, backed by memory (medium: Memory).
SHARED_MEMORY_DIR = f"{SOCKET_DIR}/shm"
#: At most this much in it at once (it counts towards the pod's memory); beyond it, the socket.
SHARED_MEMORY_BYTES = 1024**3

SIDECAR_PORT = 7000
#: The worker's gRPC health service (``braid worker --health-port``), the model container's
#: liveness: a hung worker (SIGSTOPped, deadlocked) stops answering and is restarted.
WORKER_HEALTH_PORT = 8086
METRICS_PORT = 9090
INGRESS_HTTP_PORT = 8000
INGRESS_GRPC_PORT = 9000


class Component(StrEnum):
    """What part of a graph an object belongs to (label ``braid.dev/component``)."""

    NODE = "node"
    INGRESS = "ingress"
    GRAPH = "graph"


def graph_name(graph: DeploymentGraph) -> str:
    return graph.metadata.name


def node_object_name(graph: DeploymentGraph, node: str) -> str:
    """``<graph>-<node>``: the node's Deployment, Service, autoscaler and budget."""
    return f"{graph.metadata.name}-{node}"


def ingress_object_name(graph: DeploymentGraph) -> str:
    return f"{graph.metadata.name}-ingress"


def config_map_name(graph: DeploymentGraph) -> str:
    return f"{graph.metadata.name}-graph"


def selector_labels(
    graph: DeploymentGraph, component: Component, node: str | None
) -> dict[str, str]:
    """The immutable part of the labels: what Deployments and Services select pods by."""
    labels = {GRAPH_LABEL: graph.metadata.name, COMPONENT_LABEL: component.value}
    if node is not None:
        labels[NODE_LABEL] = node
    return labels


def object_labels(
    graph: DeploymentGraph, component: Component, node: str | None = None
) -> dict[str, str]:
    """Every label of an object braid renders."""
    return {
        MANAGED_BY: "braid",
        PART_OF: graph.metadata.name,
        **selector_labels(graph, component, node),
    }


def owned_selector(graph_name: str) -> str:
    """The label selector of every object one graph owns."""
    return f"{MANAGED_BY}=braid,{GRAPH_LABEL}={graph_name}"


def owner_references(graph: DeploymentGraph) -> list[dict[str, Any]]:
    """The graph as the controller owner; empty when the graph has no uid (``braid render``)."""
    if graph.metadata.uid is None:
        return []
    return [
        {
            "apiVersion": GROUP_VERSION,
            "kind": KIND,
            "name": graph.metadata.name,
            "uid": graph.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def metadata(
    graph: DeploymentGraph,
    name: str,
    component: Component,
    node: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Object metadata: name, namespace (when the graph has one), labels, owner."""
    meta: dict[str, Any] = {"name": name}
    if graph.metadata.namespace:
        meta["namespace"] = graph.metadata.namespace
    meta["labels"] = object_labels(graph, component, node)
    if annotations:
        meta["annotations"] = annotations
    owners = owner_references(graph)
    if owners:
        meta["ownerReferences"] = owners
    return meta
