"""Rendering: one validated graph and the settings in, the Kubernetes objects it needs out.

:func:`render` is pure and synchronous: no I/O, no clock, no randomness. The operator applies its
output server-side and ``braid render`` prints it, so both always agree. What one graph renders
to (in apply order):

- the ServiceAccount, Role and RoleBinding its pods use to discover peers (EndpointSlices only);
- the ConfigMap ``<graph>-graph`` with the compiled graph, userConfig included;
- per node a Deployment and a headless Service ``<graph>-<node>``, plus a
  HorizontalPodAutoscaler when the node autoscales with ``mode: hpa`` (braid's own autoscaler,
  the default, needs no object), and optionally a PodDisruptionBudget;
- the ingress Deployment and Service ``<graph>-ingress``;
- optionally a NetworkPolicy that admits only the graph's own pods to its nodes.

The only input besides the spec is what the cluster already runs (:class:`LiveNode`): the code
a node's running ``version`` pinned, and the replica count an autoscaler chose.
docs/rollouts.md states the rule.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from braid.operator._errors import RenderError
from braid.operator._labels import (
    CODE_ANNOTATION,
    FLOW_ANNOTATION,
    GRAPH_KEY,
    GRAPH_LABEL,
    INGRESS_GRPC_PORT,
    INGRESS_HTTP_PORT,
    METRICS_PORT,
    MODEL_CODE_ANNOTATION,
    NETWORK_POLICY_ANNOTATION,
    PDB_ANNOTATION,
    SIDECAR_PORT,
    VERSION_ANNOTATION,
    Component,
    KubeObject,
    config_map_name,
    ingress_object_name,
    metadata,
    node_object_name,
    object_labels,
    selector_labels,
)
from braid.operator._live_nodes import LiveNode, code_json, pinned_code
from braid.operator._pod_rendering import ingress_pod_spec, model_code, node_pod_spec
from braid.operator._pod_settings import service_accounts
from braid.operator._settings import OperatorSettings
from braid.spec import AutoscalingMode, DeploymentGraph, Host, Node, Problem, hosts

#: At most this share of a node's replicas is down during a rollout (after Ray Serve's 20%).
MAX_UNAVAILABLE = "20%"
#: New replicas started ahead of old ones; with one replica this is what keeps it serving.
MAX_SURGE = "25%"
#: A node with GPUs rolls one replica at a time and starts none ahead: a surge pod needs a spare
#: GPU, and on a full GPU pool it would stay Pending and stall the rollout (docs/rollouts.md).
GPU_MAX_UNAVAILABLE = 1
GPU_MAX_SURGE = 0
#: The per-pod metric an HPA targets (``mode: hpa``); a metrics adapter must serve it
#: (docs/operator.md).
AUTOSCALING_METRIC = "braid_ongoing_requests"
_REVISION_HISTORY = 5
#: What one ConfigMap's data may hold in total (the API server refuses more): the compiled graph
#: must fit, userConfig and init included.
CONFIG_MAP_LIMIT_BYTES = 1024 * 1024
# Node fields whose change reaches running replicas without a restart (or does not concern them).
_LIVE_FIELDS = {"userConfig", "replicas", "autoscaling", "version"}


def render(
    graph: DeploymentGraph,
    settings: OperatorSettings,
    live: Mapping[str, LiveNode] | None = None,
) -> list[KubeObject]:
    """Every object of ``graph``, in the order they are applied."""
    if not graph.metadata.namespace:
        raise RenderError(
            f'graph "{graph.metadata.name}" has no namespace; set metadata.namespace '
            "(braid render: pass --namespace)"
        )
    too_big = size_problems(graph)
    if too_big:
        raise RenderError(str(too_big[0]))
    live = live or {}
    pdb = _switch(graph, PDB_ANNOTATION, settings.pod_disruption_budgets)
    objects = [*_access_objects(graph), render_config_map(graph)]
    for host in hosts(graph):  # a node, or a co-location group as one Deployment
        objects += _node_objects(graph, host, settings, live.get(host.name), pdb=pdb)
    objects += _ingress_objects(graph, settings, pdb=pdb)
    if _switch(graph, NETWORK_POLICY_ANNOTATION, settings.network_policies):
        objects.append(_network_policy(graph))
    return objects


def _switch(graph: DeploymentGraph, annotation: str, default: bool) -> bool:
    value = graph.metadata.annotations.get(annotation, "").strip().lower()
    if value in {"true", "false"}:
        return value == "true"
    return default


def compiled_graph(graph: DeploymentGraph) -> dict[str, Any]:
    """The graph as the runtime reads it: the validated spec, userConfig included, no status."""
    document = graph.model_dump(mode="json", by_alias=True, exclude_none=True)
    document.pop("status", None)
    meta = graph.metadata
    document["metadata"] = {"name": meta.name, "labels": dict(meta.labels)}
    if meta.namespace:
        document["metadata"]["namespace"] = meta.namespace
    return document


def _graph_text(graph: DeploymentGraph) -> str:
    return json.dumps(compiled_graph(graph), indent=2, sort_keys=True) + "\n"


def size_problems(graph: DeploymentGraph) -> list[Problem]:
    """A problem when the compiled graph does not fit in its ConfigMap (1 MiB), else none."""
    size = len(_graph_text(graph).encode())
    if size <= CONFIG_MAP_LIMIT_BYTES:
        return []
    return [
        Problem(
            "spec",
            f"the compiled graph is {size} bytes, over the {CONFIG_MAP_LIMIT_BYTES} bytes "
            "(1 MiB) a ConfigMap holds; move large init or userConfig values into files the "
            "node reads (a volume, an image) and pass their paths instead",
        )
    ]


def render_config_map(graph: DeploymentGraph) -> KubeObject:
    text = _graph_text(graph)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(graph, config_map_name(graph), Component.GRAPH),
        "data": {GRAPH_KEY: text},
    }


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _essence(model: BaseModel) -> dict[str, Any]:
    """What a digest covers of ``model``: the fields set to other than their defaults. A field
    that a newer braid adds (with a default) then leaves every digest as it was, and upgrading
    the operator rolls no graph's pods."""
    return model.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _access_objects(graph: DeploymentGraph) -> list[KubeObject]:
    name, namespace = graph.metadata.name, graph.metadata.namespace
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(graph, name, Component.GRAPH),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata(graph, name, Component.GRAPH),
            "rules": [
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(graph, name, Component.GRAPH),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            # The graph's account, and each node's own: their sidecars read EndpointSlices too.
            "subjects": [
                {"kind": "ServiceAccount", "name": account, "namespace": namespace}
                for account in service_accounts(graph)
            ],
        },
    ]


def rollout_strategy(node: Node | None) -> dict[str, int | str]:
    """maxUnavailable and maxSurge: the node's own, else one at a time with GPUs, else 20%/25%."""
    gpus = node is not None and node.resources.gpu is not None
    unavailable: int | str = GPU_MAX_UNAVAILABLE if gpus else MAX_UNAVAILABLE
    surge: int | str = GPU_MAX_SURGE if gpus else MAX_SURGE
    if node is not None and node.rollout is not None:
        if node.rollout.max_unavailable is not None:
            unavailable = node.rollout.max_unavailable
        if node.rollout.max_surge is not None:
            surge = node.rollout.max_surge
    return {"maxUnavailable": unavailable, "maxSurge": surge}


def _template_annotations(graph: DeploymentGraph, host: Host) -> dict[str, str]:
    node = host.node
    annotations = {
        **node.pod_annotations,
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORT),
        FLOW_ANNOTATION: _digest(_essence(graph.spec.flow)),
    }
    if node.version is not None:
        annotations[VERSION_ANNOTATION] = node.version
    else:
        owns = [node] if host.group is None else [node, *host.members]
        annotations[CODE_ANNOTATION] = _digest(
            [
                {key: value for key, value in _essence(n).items() if key not in _LIVE_FIELDS}
                for n in owns
            ]
            if host.group is not None
            else {key: value for key, value in _essence(node).items() if key not in _LIVE_FIELDS}
        )
    return annotations


def _replicas(node: Node, live: LiveNode | None) -> int:
    scaling = node.autoscaling
    if scaling is None:
        return 1 if node.replicas is None else node.replicas
    # The autoscaler owns the count between the bounds: keep what it chose, start at the minimum.
    current = live.replicas if live is not None and live.replicas is not None else None
    if current is None:
        return scaling.min_replicas
    return max(scaling.min_replicas, min(scaling.max_replicas, current))


def _deployment(
    graph: DeploymentGraph,
    name: str,
    *,
    component: Component,
    node: str | None,
    replicas: int,
    pod_spec: dict[str, Any],
    annotations: dict[str, str],
    own_annotations: dict[str, str] | None = None,
    spec_node: Node | None = None,
) -> KubeObject:
    pod_labels = spec_node.pod_labels if spec_node is not None else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(graph, name, component, node, own_annotations),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": _REVISION_HISTORY,
            "selector": {"matchLabels": selector_labels(graph, component, node)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": rollout_strategy(spec_node)},
            "template": {
                "metadata": {
                    "labels": {**pod_labels, **object_labels(graph, component, node)},
                    "annotations": annotations,
                },
                "spec": pod_spec,
            },
        },
    }


def _node_objects(
    graph: DeploymentGraph,
    host: Host,
    settings: OperatorSettings,
    live: LiveNode | None,
    *,
    pdb: bool,
) -> list[KubeObject]:
    """A node's (or a co-location group's) Deployment, and a headless Service per node.

    A group's pods serve every member, so each member keeps a Service of its own name that
    selects them: discovery finds a member's replicas under its node name (decision 0009).
    """
    node = host.node
    name = node_object_name(graph, node.name)
    code = pinned_code(node, model_code(graph, node, settings), live)
    objects = [
        _deployment(
            graph,
            name,
            component=Component.NODE,
            node=node.name,
            replicas=_replicas(node, live),
            pod_spec=node_pod_spec(graph, node, code, settings),
            annotations=_template_annotations(graph, host),
            own_annotations={MODEL_CODE_ANNOTATION: code_json(code)},
            spec_node=node,
        ),
    ]
    for member in host.members:
        member_name = node_object_name(graph, member.name)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata(graph, member_name, Component.NODE, member.name),
                "spec": {
                    # Headless: sidecars call replicas directly, so that HTTP/2 connections
                    # spread over pods instead of pinning to one behind kube-proxy.
                    "clusterIP": "None",
                    "selector": selector_labels(graph, Component.NODE, node.name),
                    "ports": [
                        {
                            "name": "grpc",
                            "port": SIDECAR_PORT,
                            "targetPort": "grpc",
                            "protocol": "TCP",
                        }
                    ],
                },
            }
        )
    if node.autoscaling is not None and node.autoscaling.mode is AutoscalingMode.HPA:
        objects.append(_autoscaler(graph, node, name))
    if pdb:
        objects.append(_disruption_budget(graph, name, Component.NODE, node.name))
    return objects


def _quantity(value: float) -> str:
    """A float as a Kubernetes quantity: ``2.0`` -> ``"2"``, ``1.5`` -> ``"1500m"``."""
    if value == int(value):
        return str(int(value))
    return f"{round(value * 1000)}m"


def _autoscaler(graph: DeploymentGraph, node: Node, name: str) -> KubeObject:
    scaling = node.autoscaling
    if scaling is None:  # pragma: no cover - the caller checks
        raise RenderError(f'node "{node.name}" does not autoscale')
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(graph, name, Component.NODE, node.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": AUTOSCALING_METRIC},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": _quantity(scaling.target_ongoing_requests),
                        },
                    },
                }
            ],
        },
    }


def _disruption_budget(
    graph: DeploymentGraph, name: str, component: Component, node: str | None
) -> KubeObject:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(graph, name, component, node),
        "spec": {
            # One at a time, not a percentage: 20% of one replica would block every drain.
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(graph, component, node)},
        },
    }


def _ingress_objects(
    graph: DeploymentGraph, settings: OperatorSettings, *, pdb: bool
) -> list[KubeObject]:
    name = ingress_object_name(graph)
    served = {"flow": _essence(graph.spec.flow), "ingress": _essence(graph.spec.ingress)}
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORT),
        FLOW_ANNOTATION: _digest(served),
    }
    objects = [
        _deployment(
            graph,
            name,
            component=Component.INGRESS,
            node=None,
            replicas=graph.spec.ingress.replicas,
            pod_spec=ingress_pod_spec(graph, settings),
            annotations=annotations,
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(graph, name, Component.INGRESS),
            "spec": {
                "type": "ClusterIP",
                "selector": selector_labels(graph, Component.INGRESS, None),
                "ports": [
                    _port("http", INGRESS_HTTP_PORT),
                    _port("grpc", INGRESS_GRPC_PORT),
                    _port("metrics", METRICS_PORT),
                ],
            },
        },
    ]
    if pdb:
        objects.append(_disruption_budget(graph, name, Component.INGRESS, None))
    return objects


def _port(name: str, number: int) -> dict[str, Any]:
    return {"name": name, "port": number, "targetPort": name, "protocol": "TCP"}


def _network_policy(graph: DeploymentGraph) -> KubeObject:
    """Only the graph's own pods (its nodes and its ingress) may call its nodes' sidecars."""
    own_pods = {"podSelector": {"matchLabels": {GRAPH_LABEL: graph.metadata.name}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(graph, f"{graph.metadata.name}-nodes", Component.GRAPH),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    GRAPH_LABEL: graph.metadata.name,
                    "braid.dev/component": Component.NODE.value,
                }
            },
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [own_pods], "ports": [{"protocol": "TCP", "port": SIDECAR_PORT}]},
                # Metrics stay reachable for Prometheus, wherever it runs.
                {"ports": [{"protocol": "TCP", "port": METRICS_PORT}]},
            ],
        },
    }
