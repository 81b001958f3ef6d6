"""A node's own pod settings, rendered: env sources, volumes, identity, scheduling, start-up.

The spec (decision 0008) takes typed subsets of the Kubernetes fields of the same names, so
rendering is mostly a dump by alias. Validation has already refused anything that would break
braid's own containers, volumes, labels and security settings; this module only places what the
node asks for, always next to braid's own and never instead of it.
"""

from __future__ import annotations

import math
from typing import Any

from braid.spec import DRAIN_TIMEOUT_SECONDS, DeploymentGraph, Node

#: Start-up window of a replica (constructing its class, loading a model) when the node sets none.
DEFAULT_STARTUP_SECONDS = 300
#: How often the start-up probe asks; the window is divided into this many-second tries.
STARTUP_PERIOD_SECONDS = 10
#: Seconds a terminating pod keeps serving so that peers and kube-proxy stop routing to it first.
PRE_STOP_SECONDS = 5
#: The preStop wait, then the sidecar's drain of requests in flight, then a margin to exit.
TERMINATION_GRACE_SECONDS = PRE_STOP_SECONDS + DRAIN_TIMEOUT_SECONDS + 5


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json", by_alias=True, exclude_none=True)


def user_env(node: Node) -> list[dict[str, Any]]:
    """The node's variables: a value, or a Secret's or ConfigMap's key, or a pod field."""
    rendered = []
    for var in node.env:
        if var.value_from is not None:
            rendered.append({"name": var.name, "valueFrom": _dump(var.value_from)})
        else:
            rendered.append({"name": var.name, "value": var.value})
    return rendered


def user_env_from(node: Node) -> list[dict[str, Any]]:
    # braid's own variables are in `env`, which wins over `envFrom` in Kubernetes.
    return [_dump(source) for source in node.env_from]


def user_volumes(node: Node) -> list[dict[str, Any]]:
    return [_dump(volume) for volume in node.volumes]


def user_mounts(node: Node) -> list[dict[str, Any]]:
    return [_dump(mount) for mount in node.volume_mounts]


def service_account(graph: DeploymentGraph, node: Node | None) -> str:
    """The pods' service account: the node's own, else the graph's (docs/operator.md)."""
    if node is not None and node.service_account_name:
        return node.service_account_name
    return graph.metadata.name


def service_accounts(graph: DeploymentGraph) -> list[str]:
    """Every service account the graph's pods run as: the graph's first, then the nodes'."""
    names = [graph.metadata.name]
    for node in graph.spec.nodes:
        name = service_account(graph, node)
        if name not in names:
            names.append(name)
    return names


def pod_settings(node: Node) -> dict[str, Any]:
    """The pod-level fields the node sets, as pod spec fields."""
    spec: dict[str, Any] = {}
    if node.image_pull_secrets:
        spec["imagePullSecrets"] = [_dump(secret) for secret in node.image_pull_secrets]
    if node.affinity:
        spec["affinity"] = dict(node.affinity)
    if node.topology_spread_constraints:
        spec["topologySpreadConstraints"] = [dict(c) for c in node.topology_spread_constraints]
    if node.priority_class_name:
        spec["priorityClassName"] = node.priority_class_name
    if node.runtime_class_name:
        spec["runtimeClassName"] = node.runtime_class_name
    return spec


def termination_grace(node: Node | None) -> int:
    if node is not None and node.termination_grace_period_seconds is not None:
        return node.termination_grace_period_seconds
    return TERMINATION_GRACE_SECONDS


def startup_probe(node: Node, check: dict[str, Any]) -> dict[str, Any]:
    """Holds off liveness and readiness until ``check`` passes, for at most startupSeconds.

    ``check`` is the probe's handler, e.g. ``{"grpc": {...}}`` or ``{"httpGet": {...}}``.
    """
    window = node.startup_seconds or DEFAULT_STARTUP_SECONDS
    return {
        **check,
        "periodSeconds": STARTUP_PERIOD_SECONDS,
        "failureThreshold": max(1, math.ceil(window / STARTUP_PERIOD_SECONDS)),
    }
