"""Rendering of pod templates: a node's model and sidecar containers, and the ingress container.

The runtime contract lives here: the commands, ports, probes, mounts and environment that the
``braid worker``, ``braid sidecar`` and ``braid ingress`` processes expect. Everything is derived
from the graph and the settings alone, so that a pod template changes only when something that
its replicas run changes; a node's ``userConfig`` reaches them through the mounted ConfigMap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from braid.operator._gpus import gpu_limits
from braid.operator._labels import (
    GRAPH_DIR,
    GRAPH_FILE,
    INGRESS_GRPC_PORT,
    INGRESS_HTTP_PORT,
    METRICS_PORT,
    SHARED_MEMORY_BYTES,
    SHARED_MEMORY_DIR,
    SIDECAR_PORT,
    SOCKET_DIR,
    WORKER_HEALTH_PORT,
    WORKER_SOCKET,
    config_map_name,
)
from braid.operator._pod_settings import (
    PRE_STOP_SECONDS,
    pod_settings,
    service_account,
    startup_probe,
    termination_grace,
    user_env,
    user_env_from,
    user_mounts,
    user_volumes,
)
from braid.operator._settings import OperatorSettings
from braid.spec import DeploymentGraph, InferenceProtocol, Node, subgraphs_of

#: The gRPC health service that turns SERVING once the user's class is constructed.
READINESS_SERVICE = "braid.v1.Replica"

_GRAPH_VOLUME = "graph"
_SOCKET_VOLUME = "braid-run"
_TMP_VOLUME = "tmp"


@dataclass(frozen=True)
class ModelCode:
    """What the model container runs: the part of a pod template that ``version`` gates."""

    image: str
    command: list[str] | None
    args: list[str] | None


def model_code(graph: DeploymentGraph, node: Node, settings: OperatorSettings) -> ModelCode:
    """The image and command of a node's model container, as the spec asks for them."""
    image = graph.image_of(node) or settings.runtime_image
    if node.server is not None:
        return ModelCode(image, node.server.command, node.server.args)
    # Kubernetes discovery: the user's handle calls reach other nodes' replicas from here. The
    # sidecar's address (the kubelet expands $(BRAID_POD_IP)) is where peers fetch the values
    # that the worker's code passes on unawaited; the sidecar forwards those fetches to it.
    command = ["braid", "worker", "--graph", GRAPH_FILE, "--node", node.name]
    command += ["--socket", WORKER_SOCKET, "--discovery", "kubernetes"]
    command += ["--advertise", f"$(BRAID_POD_IP):{SIDECAR_PORT}"]
    command += ["--health-port", str(WORKER_HEALTH_PORT)]
    return ModelCode(image, [*command, *_shared_memory()], None)


def _shared_memory() -> list[str]:
    """Sidecar and worker share large values through the socket's memory-backed emptyDir."""
    return [
        "--shared-memory-dir",
        SHARED_MEMORY_DIR,
        "--shared-memory-bytes",
        str(SHARED_MEMORY_BYTES),
    ]


def _replica_ready() -> dict[str, Any]:
    """The sidecar's readiness: SERVING once the user's class is constructed."""
    return {"grpc": {"port": SIDECAR_PORT, "service": READINESS_SERVICE}}


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_security(settings: OperatorSettings) -> dict[str, Any]:
    uid = settings.run_as_user
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def braid_env(graph: DeploymentGraph, settings: OperatorSettings) -> list[dict[str, Any]]:
    """The downward-API environment of every braid container, the graph's name, and the
    OTEL_* variables of tracing (docs/decisions/0020-tracing.md)."""

    def field(name: str, path: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}

    return [
        field("BRAID_POD_NAME", "metadata.name"),
        field("BRAID_POD_NAMESPACE", "metadata.namespace"),
        field("BRAID_POD_IP", "status.podIP"),
        field("BRAID_NODE_NAME", "spec.nodeName"),
        {"name": "BRAID_GRAPH", "value": graph.metadata.name},
        *({"name": name, "value": value} for name, value in sorted(settings.tracing_env.items())),
    ]


def _pre_stop() -> dict[str, Any]:
    # The sleep action (Kubernetes 1.30+) needs no shell, which distroless images lack.
    return {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}}


def _mounts(*, graph: bool, socket: bool) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = []
    if graph:
        # The whole ConfigMap as a directory: a subPath mount would never see updates.
        mounts.append({"name": _GRAPH_VOLUME, "mountPath": GRAPH_DIR, "readOnly": True})
    if socket:
        mounts.append({"name": _SOCKET_VOLUME, "mountPath": SOCKET_DIR})
    mounts.append({"name": _TMP_VOLUME, "mountPath": "/tmp"})  # noqa: S108 - an emptyDir
    return mounts


def _model_resources(node: Node, settings: OperatorSettings) -> dict[str, Any]:
    """Requests equal limits for CPU and memory (Guaranteed when both are set); GPUs as limits."""
    amounts: dict[str, str] = {}
    if node.resources.cpu is not None:
        amounts["cpu"] = node.resources.cpu
    if node.resources.memory is not None:
        amounts["memory"] = node.resources.memory
    limits = {**amounts, **gpu_limits(node.resources, settings.gpu_resource_name)}
    resources: dict[str, Any] = {}
    if amounts:
        resources["requests"] = dict(amounts)
    if limits:
        resources["limits"] = limits
    return resources


def _model_container(
    graph: DeploymentGraph, node: Node, code: ModelCode, settings: OperatorSettings
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "model", "image": code.image}
    container["imagePullPolicy"] = settings.image_pull_policy
    if code.command is not None:
        container["command"] = list(code.command)
    if code.args is not None:
        container["args"] = list(code.args)
    container["env"] = [*braid_env(graph, settings), *user_env(node)]
    if node.env_from:
        container["envFrom"] = user_env_from(node)
    if node.server is not None:
        port = node.server.port
        container["ports"] = [
            {"name": _server_port_name(node), "containerPort": port, "protocol": "TCP"}
        ]
        # The kubelet probes the pod's IP: the server must listen on all interfaces (0.0.0.0),
        # as model servers do by default, not only on 127.0.0.1 (docs/operator.md).
        probe = _server_probe(node)
        container["startupProbe"] = startup_probe(node, probe)
        container["readinessProbe"] = {
            **probe,
            "periodSeconds": 5,
            "failureThreshold": 3,
        }
        mounts = _mounts(graph=False, socket=False)
    else:
        container["ports"] = [
            {"name": "health", "containerPort": WORKER_HEALTH_PORT, "protocol": "TCP"}
        ]
        container["startupProbe"] = startup_probe(node, _replica_ready())
        container["livenessProbe"] = {
            "grpc": {"port": WORKER_HEALTH_PORT, "service": ""},
            "periodSeconds": 10,
            "failureThreshold": 3,
        }
        mounts = _mounts(graph=True, socket=True)
    container["volumeMounts"] = [*mounts, *user_mounts(node)]
    resources = _model_resources(node, settings)
    if resources:
        container["resources"] = resources
    container["lifecycle"] = _pre_stop()
    container["securityContext"] = container_security()
    return container


def _server_port_name(node: Node) -> str:
    inference = node.inference
    return "grpc-model" if inference and inference.protocol is InferenceProtocol.GRPC else "http"


def _server_probe(node: Node) -> dict[str, Any]:
    """How the kubelet sees a model server ready: its readiness path, or for an inference
    server spoken to over gRPC, the gRPC health checking protocol."""
    inference = node.inference
    if inference is not None and inference.protocol is InferenceProtocol.GRPC:
        return {"grpc": {"port": inference.port, "service": ""}}
    server = node.server
    if server is None:  # pragma: no cover - only called for model server nodes
        raise ValueError(f'node "{node.name}" fronts no model server')
    return {"httpGet": {"path": server.readiness_path, "port": server.port}}


def _runtime_resources(settings: OperatorSettings) -> dict[str, Any]:
    # No CPU limit: CFS throttling would add latency to every hop of every request.
    return {
        "requests": {
            "cpu": settings.sidecar_cpu_request,
            "memory": settings.sidecar_memory_request,
        },
        "limits": {"memory": settings.sidecar_memory_limit},
    }


def _sidecar_container(
    graph: DeploymentGraph, node: Node, settings: OperatorSettings
) -> dict[str, Any]:
    command = ["braid", "sidecar", "--graph", GRAPH_FILE, "--node", node.name]
    command += ["--listen", f"0.0.0.0:{SIDECAR_PORT}", "--metrics-port", str(METRICS_PORT)]
    if node.server is not None:
        command += ["--http-port", str(node.server.port)]
    else:
        command += ["--worker-socket", WORKER_SOCKET]
    command += ["--discovery", "kubernetes"]
    if node.http is None:
        command += _shared_memory()
    return {
        "name": "sidecar",
        "image": settings.runtime_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": command,
        "ports": [
            {"name": "grpc", "containerPort": SIDECAR_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "env": braid_env(graph, settings),
        "startupProbe": startup_probe(node, _replica_ready()),
        "readinessProbe": {
            "grpc": {"port": SIDECAR_PORT, "service": READINESS_SERVICE},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "grpc": {"port": SIDECAR_PORT, "service": ""},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": _runtime_resources(settings),
        "volumeMounts": _mounts(graph=True, socket=node.server is None),
        "lifecycle": _pre_stop(),
        "securityContext": container_security(),
    }


def _volumes(graph: DeploymentGraph, *, socket: bool) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        {"name": _GRAPH_VOLUME, "configMap": {"name": config_map_name(graph)}},
    ]
    if socket:  # memory-backed: it also holds the shared-memory segments (decision 0012)
        volumes.append({"name": _SOCKET_VOLUME, "emptyDir": {"medium": "Memory"}})
    volumes.append({"name": _TMP_VOLUME, "emptyDir": {}})
    return volumes


def _pod_spec(
    graph: DeploymentGraph,
    containers: list[dict[str, Any]],
    settings: OperatorSettings,
    node: Node | None = None,
) -> dict[str, Any]:
    return {
        "serviceAccountName": service_account(graph, node),
        # Sidecars and workers read EndpointSlices with the token, whatever the account says.
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": termination_grace(node),
        "securityContext": pod_security(settings),
        "containers": containers,
    }


def node_pod_spec(
    graph: DeploymentGraph, node: Node, code: ModelCode, settings: OperatorSettings
) -> dict[str, Any]:
    """The pod spec of one node's replicas: the model container and braid's sidecar."""
    containers = [
        _model_container(graph, node, code, settings),
        _sidecar_container(graph, node, settings),
    ]
    spec = _pod_spec(graph, containers, settings, node)
    spec["volumes"] = [*_volumes(graph, socket=node.server is None), *user_volumes(node)]
    spec.update(pod_settings(node))
    if node.node_selector:
        spec["nodeSelector"] = dict(node.node_selector)
    if node.tolerations:
        spec["tolerations"] = [
            toleration.model_dump(mode="json", by_alias=True, exclude_none=True)
            for toleration in node.tolerations
        ]
    return spec


def ingress_image(graph: DeploymentGraph, settings: OperatorSettings) -> str:
    """braid's image, unless the graph serves its own app (spec.ingress.http.app): then the
    image that holds the app's code, spec.ingress.image or spec.image (else braid's)."""
    ingress = graph.spec.ingress
    if ingress.http.app is None:
        return settings.runtime_image
    return ingress.image or graph.spec.image or settings.runtime_image


def ingress_pod_spec(graph: DeploymentGraph, settings: OperatorSettings) -> dict[str, Any]:
    """The pod spec of the ingress: HTTP and gRPC in front of the graph."""
    command = ["braid", "ingress", "--graph", GRAPH_FILE]
    command += ["--http", f"0.0.0.0:{INGRESS_HTTP_PORT}", "--grpc", f"0.0.0.0:{INGRESS_GRPC_PORT}"]
    command += ["--metrics-port", str(METRICS_PORT), "--discovery", "kubernetes"]
    # The live graph page reads each replica's metrics on its sidecar's metrics port.
    command += ["--replica-metrics-port", str(METRICS_PORT)]
    if not settings.graph_page:
        command += ["--no-graph-page"]
    # Sub-graph steps call each other graph through its ingress Service, in the same namespace
    # (docs/decisions/0023-sub-graphs.md).
    for called in subgraphs_of(graph):
        command += ["--graph-address", f"{called}={called}-ingress:{INGRESS_GRPC_PORT}"]
    container = {
        "name": "ingress",
        "image": ingress_image(graph, settings),
        "imagePullPolicy": settings.image_pull_policy,
        "command": command,
        "ports": [
            {"name": "http", "containerPort": INGRESS_HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": INGRESS_GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "env": braid_env(graph, settings),
        "readinessProbe": {
            "httpGet": {"path": "/-/ready", "port": INGRESS_HTTP_PORT},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/-/healthz", "port": INGRESS_HTTP_PORT},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": _runtime_resources(settings),
        "volumeMounts": _mounts(graph=True, socket=False),
        "lifecycle": _pre_stop(),
        "securityContext": container_security(),
    }
    spec = _pod_spec(graph, [container], settings)
    spec["volumes"] = _volumes(graph, socket=False)
    return spec
