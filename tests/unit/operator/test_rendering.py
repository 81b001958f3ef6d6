"""render(): the objects of one graph, the runtime contract in the pod specs, and rollouts."""

from __future__ import annotations

import glob
import json
from typing import Any

import kubernetes_validate
import pytest

from braid.operator import LiveNode, OperatorSettings, RenderError, live_node, render
from braid.spec import DeploymentGraph, Flow, Ingress, Node, Step, load_graph, validate_graph

KUBERNETES_VERSION = "1.33"
SETTINGS = OperatorSettings(runtime_image="registry.example.com/braid:test")
EXAMPLES = sorted(glob.glob("examples/*/*.yaml"))


def graph_of(path: str, namespace: str = "ml", uid: str | None = "uid-1") -> DeploymentGraph:
    graph = load_graph(path)
    meta = graph.metadata.model_copy(
        update={"namespace": graph.metadata.namespace or namespace, "uid": uid}
    )
    return graph.model_copy(update={"metadata": meta})


def chain(**node_changes: Any) -> DeploymentGraph:
    document = graph_of("examples/chain/graph.yaml").model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    document["spec"]["nodes"][0].update(node_changes)
    return validate_graph(document)


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


@pytest.mark.parametrize("path", EXAMPLES)
def test_every_example_renders_to_valid_kubernetes_objects(path: str) -> None:
    settings = OperatorSettings(pod_disruption_budgets=True, network_policies=True)
    for obj in render(graph_of(path), settings):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = by_key(render(chain(), SETTINGS))["Deployment", "chain-adder"]
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_chain_renders_the_objects_of_the_contract() -> None:
    objects = render(chain(), SETTINGS)
    assert [(obj["kind"], obj["metadata"]["name"]) for obj in objects] == [
        ("ServiceAccount", "chain"),
        ("Role", "chain"),
        ("RoleBinding", "chain"),
        ("ConfigMap", "chain-graph"),
        ("Deployment", "chain-adder"),
        ("Service", "chain-adder"),
        ("Deployment", "chain-multiplier"),
        ("Service", "chain-multiplier"),
        ("Deployment", "chain-ingress"),
        ("Service", "chain-ingress"),
    ]
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "braid"
        assert labels["braid.dev/graph"] == "chain"
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
        assert obj["metadata"]["namespace"] == "ml"


def test_role_grants_only_endpointslice_reads() -> None:
    role = by_key(render(chain(), SETTINGS))["Role", "chain"]
    assert role["rules"] == [
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch"],
        }
    ]


def test_python_node_pod_runs_worker_and_sidecar() -> None:
    deployment = by_key(render(chain(), SETTINGS))["Deployment", "chain-adder"]
    model, sidecar = container(deployment, "model"), container(deployment, "sidecar")
    assert model["image"] == SETTINGS.runtime_image
    # Kubernetes discovery in the worker too: the user's handle calls need it (issue 17).
    assert model["command"] == [
        "braid", "worker", "--graph", "/etc/braid/graph/graph.json",
        "--node", "adder", "--socket", "/var/run/braid/worker.sock",
        "--discovery", "kubernetes", "--advertise", "$(BRAID_POD_IP):7000",
        "--health-port", "8086",
        "--shared-memory-dir", "/var/run/braid/shm", "--shared-memory-bytes", "1073741824",
    ]  # fmt: skip
    # A hung worker stops answering its health service and the kubelet restarts it.
    assert model["ports"] == [{"name": "health", "containerPort": 8086, "protocol": "TCP"}]
    assert model["livenessProbe"]["grpc"] == {"port": 8086, "service": ""}
    assert sidecar["command"][-8:] == [
        "--worker-socket", "/var/run/braid/worker.sock", "--discovery", "kubernetes",
        "--shared-memory-dir", "/var/run/braid/shm", "--shared-memory-bytes", "1073741824",
    ]  # fmt: skip
    # Large values cross between the two through the socket's emptyDir, backed by memory.
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["braid-run"]["emptyDir"] == {"medium": "Memory"}
    assert sidecar["readinessProbe"]["grpc"] == {"port": 7000, "service": "braid.v1.Replica"}
    assert sidecar["livenessProbe"]["grpc"] == {"port": 7000, "service": ""}
    ports = {p["containerPort"] for c in (model, sidecar) for p in c["ports"]}
    assert len(ports) == 3  # the worker's health port collides with none of braid's
    # Both containers wait for the class to be constructed before liveness counts (300 s).
    for each in (model, sidecar):
        assert each["startupProbe"]["grpc"] == {"port": 7000, "service": "braid.v1.Replica"}
        assert (
            each["startupProbe"]["periodSeconds"] * each["startupProbe"]["failureThreshold"] == 300
        )
    env = {var["name"] for var in model["env"]}
    assert {"BRAID_POD_NAMESPACE", "BRAID_POD_IP", "BRAID_GRAPH"} <= env
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    assert sidecar["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    env = {var["name"] for var in sidecar["env"]}
    assert {"BRAID_POD_NAME", "BRAID_POD_IP", "BRAID_NODE_NAME", "BRAID_GRAPH"} <= env
    for each in (model, sidecar):
        mounts = {m["mountPath"]: m for m in each["volumeMounts"]}
        assert "subPath" not in mounts["/etc/braid/graph"]
        assert "/var/run/braid" in mounts
        assert each["securityContext"]["readOnlyRootFilesystem"] is True
        assert each["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == "chain"
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxUnavailable": "20%", "maxSurge": "25%"}


def test_http_node_runs_its_server_and_the_sidecar_forwards_to_it() -> None:
    objects = by_key(render(graph_of("examples/http-model-server/graph.yaml"), SETTINGS))
    deployment = objects["Deployment", "sentiment-sentiment"]
    model, sidecar = container(deployment, "model"), container(deployment, "sidecar")
    assert model["command"] == ["python", "server.py"]
    assert model["ports"] == [{"name": "http", "containerPort": 8081, "protocol": "TCP"}]
    assert model["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8081}
    assert model["startupProbe"]["httpGet"] == {"path": "/healthz", "port": 8081}
    assert "livenessProbe" not in model  # a model server has its own; the worker's is not here
    assert "--http-port" in sidecar["command"]
    assert "--worker-socket" not in sidecar["command"]


def test_services_are_headless_for_nodes_and_clusterip_for_the_ingress() -> None:
    objects = by_key(render(chain(), SETTINGS))
    node = objects["Service", "chain-adder"]["spec"]
    assert node["clusterIP"] == "None"
    assert [p["port"] for p in node["ports"]] == [7000]
    ingress = objects["Service", "chain-ingress"]["spec"]
    assert [(p["name"], p["port"]) for p in ingress["ports"]] == [
        ("http", 8000),
        ("grpc", 9000),
        ("metrics", 9090),
    ]


def test_config_map_carries_the_compiled_graph_and_user_config() -> None:
    config_map = by_key(render(chain(), SETTINGS))["ConfigMap", "chain-graph"]
    document = json.loads(config_map["data"]["graph.json"])
    assert document["metadata"] == {"name": "chain", "namespace": "ml", "labels": {}}
    assert "status" not in document
    assert document["spec"]["nodes"][1]["userConfig"] == {"factor": 2}


def templates(graph: DeploymentGraph, live: dict[str, LiveNode] | None = None) -> dict[str, Any]:
    return {
        obj["metadata"]["name"]: obj["spec"]["template"]
        for obj in render(graph, SETTINGS, live)
        if obj["kind"] == "Deployment"
    }


def test_user_config_change_changes_no_pod_template() -> None:
    assert templates(chain(userConfig={"increment": 5})) == templates(chain())


def test_image_change_changes_only_that_nodes_template() -> None:
    before, after = templates(chain()), templates(chain(image="registry.example.com/adder:2"))
    assert after["chain-adder"] != before["chain-adder"]
    assert after["chain-multiplier"] == before["chain-multiplier"]
    assert after["chain-ingress"] == before["chain-ingress"]


def test_constructor_change_rolls_the_node() -> None:
    assert (
        templates(chain(init={"increment": 2}))["chain-adder"] != templates(chain())["chain-adder"]
    )


def live_of(graph: DeploymentGraph) -> dict[str, LiveNode]:
    return {
        obj["metadata"]["labels"]["braid.dev/node"]: live_node(obj)
        for obj in render(graph, SETTINGS)
        if obj["kind"] == "Deployment" and "braid.dev/node" in obj["metadata"]["labels"]
    }


def test_same_version_pins_the_running_code() -> None:
    running = chain(version="1", image="registry.example.com/adder:1")
    live = live_of(running)
    changed = chain(version="1", image="registry.example.com/adder:2", init={"increment": 9})
    assert templates(changed, live)["chain-adder"] == templates(running, live)["chain-adder"]


def test_new_version_rolls_the_new_code() -> None:
    live = live_of(chain(version="1", image="registry.example.com/adder:1"))
    rolled = templates(chain(version="2", image="registry.example.com/adder:2"), live)
    model = rolled["chain-adder"]["spec"]["containers"][0]
    assert model["image"] == "registry.example.com/adder:2"
    assert rolled["chain-adder"]["metadata"]["annotations"]["braid.dev/version"] == "2"


def test_builtin_autoscaling_renders_no_hpa_and_keeps_the_chosen_replicas() -> None:
    graph = chain(autoscaling={"minReplicas": 0, "maxReplicas": 6})
    objects = by_key(render(graph, SETTINGS))
    assert not [key for key in objects if key[0] == "HorizontalPodAutoscaler"]
    assert objects["Deployment", "chain-adder"]["spec"]["replicas"] == 0
    for chosen in (0, 4):
        live = {"adder": LiveNode(version=None, code=None, replicas=chosen)}
        replicas = by_key(render(graph, SETTINGS, live))["Deployment", "chain-adder"]["spec"]
        assert replicas["replicas"] == chosen
    live = {"adder": LiveNode(version=None, code=None, replicas=9)}  # above the new bound
    assert (
        by_key(render(graph, SETTINGS, live))["Deployment", "chain-adder"]["spec"]["replicas"] == 6
    )


def test_hpa_mode_renders_an_hpa_and_keeps_the_chosen_replicas() -> None:
    scaling = {"mode": "hpa", "minReplicas": 2, "maxReplicas": 6, "targetOngoingRequests": 1.5}
    graph = chain(autoscaling=scaling)
    objects = by_key(render(graph, SETTINGS))
    hpa = objects["HorizontalPodAutoscaler", "chain-adder"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == "braid_ongoing_requests"
    assert hpa["metrics"][0]["pods"]["target"]["averageValue"] == "1500m"
    assert objects["Deployment", "chain-adder"]["spec"]["replicas"] == 2
    live = {"adder": LiveNode(version=None, code=None, replicas=5)}
    replicas = by_key(render(graph, SETTINGS, live))["Deployment", "chain-adder"]["spec"]
    assert replicas["replicas"] == 5


def test_optional_budget_and_policy_follow_settings_and_annotations() -> None:
    plain = {obj["kind"] for obj in render(chain(), SETTINGS)}
    assert not {"PodDisruptionBudget", "NetworkPolicy"} & plain
    graph = chain()
    meta = graph.metadata.model_copy(update={"annotations": {"braid.dev/network-policy": "true"}})
    annotated = render(graph.model_copy(update={"metadata": meta}), SETTINGS)
    policy = by_key(annotated)["NetworkPolicy", "chain-nodes"]["spec"]
    assert policy["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"braid.dev/graph": "chain"}}}
    ]
    budgets = [
        obj
        for obj in render(chain(), OperatorSettings(pod_disruption_budgets=True))
        if obj["kind"] == "PodDisruptionBudget"
    ]
    assert len(budgets) == 3


def test_gpu_and_scheduling_pass_through() -> None:
    graph = graph_of("examples/content-understanding/graph.yaml")
    objects = by_key(render(graph, SETTINGS))
    segmentation = objects["Deployment", "content-understanding-segmentation"]
    model = container(segmentation, "model")
    assert model["resources"]["limits"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert model["resources"]["requests"] == {"cpu": "2", "memory": "8Gi"}
    pod = segmentation["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"accelerator": "nvidia-l4"}
    assert pod["tolerations"][0]["operator"] == "Exists"
    shared = container(objects["Deployment", "content-understanding-integrity"], "model")
    assert shared["resources"]["limits"]["nvidia.com/gpu.shared"] == "1"


def test_a_graph_without_namespace_is_refused() -> None:
    with pytest.raises(RenderError, match="namespace"):
        render(graph_of("examples/chain/graph.yaml", namespace=""), SETTINGS)


def test_without_uid_no_owner_references() -> None:
    for obj in render(graph_of("examples/chain/graph.yaml", uid=None), SETTINGS):
        assert "ownerReferences" not in obj["metadata"]


@pytest.mark.parametrize("path", EXAMPLES)
def test_rendered_braid_commands_are_ones_the_cli_accepts(path: str) -> None:
    """Every braid command that a pod runs parses with the real CLI, flags and all."""
    from braid.cli._main import build_parser  # noqa: PLC0415 - the operator never imports it

    parser = build_parser()
    for obj in render(graph_of(path), SETTINGS):
        if obj["kind"] != "Deployment":
            continue
        for each in obj["spec"]["template"]["spec"]["containers"]:
            command = [*each.get("command", []), *each.get("args", [])]
            if command[:1] != ["braid"]:
                continue  # an HTTP model server's own command
            expanded = [part.replace("$(BRAID_POD_IP)", "10.0.0.7") for part in command[1:]]
            args = parser.parse_args(expanded)  # exits (fails the test) on an unknown flag
            assert callable(args.handler), (obj["metadata"]["name"], each["name"])


def test_the_ingress_reads_replica_metrics_for_its_graph_page_unless_turned_off() -> None:
    on = container(by_key(render(chain(), SETTINGS))["Deployment", "chain-ingress"], "ingress")
    assert on["command"][-2:] == ["--replica-metrics-port", str(on["ports"][2]["containerPort"])]
    assert "--no-graph-page" not in on["command"]
    off_settings = OperatorSettings(
        runtime_image="registry.example.com/braid:test", graph_page=False
    )
    off = container(by_key(render(chain(), off_settings))["Deployment", "chain-ingress"], "ingress")
    assert off["command"][-1] == "--no-graph-page"


def test_the_ingress_of_a_graph_with_subgraph_steps_knows_their_ingress_services() -> None:
    review = graph_of("examples/subgraphs/graph.yaml")
    ingress = container(by_key(render(review, SETTINGS))["Deployment", "review-ingress"], "ingress")
    assert ingress["command"][-2:] == ["--graph-address", "scoring=scoring-ingress:9000"]
    scoring = graph_of("examples/subgraphs/graph-scoring.yaml")
    alone = container(by_key(render(scoring, SETTINGS))["Deployment", "scoring-ingress"], "ingress")
    assert "--graph-address" not in alone["command"]


def _digests(graph: DeploymentGraph) -> dict[str, dict[str, str]]:
    return {
        obj["metadata"]["name"]: {
            key: value
            for key, value in obj["spec"]["template"]["metadata"]["annotations"].items()
            if key.endswith("-digest")
        }
        for obj in render(graph, SETTINGS)
        if obj["kind"] == "Deployment"
    }


def test_a_field_that_a_newer_braid_adds_rolls_no_pods() -> None:
    # Upgrading the operator to a braid whose models have a new field (with a default) must
    # leave every graph's digests as they were, or it would roll every graph's pods.
    class NewerNode(Node):
        future_setting: int = 7

    class NewerStep(Step):
        future_guard: bool = False

    class NewerFlow(Flow):
        future_mode: str = "auto"

    class NewerIngress(Ingress):
        future_limit: int = 3

    graph = chain()
    spec = graph.spec
    flow = NewerFlow.model_validate(
        {
            **spec.flow.model_dump(by_alias=True, exclude_none=True),
            "steps": [NewerStep.model_validate(step.model_dump()) for step in spec.flow.steps],
        }
    )
    newer = graph.model_copy(
        update={
            "spec": spec.model_copy(
                update={
                    "nodes": [NewerNode.model_validate(node.model_dump()) for node in spec.nodes],
                    "flow": flow,
                    "ingress": NewerIngress.model_validate(spec.ingress.model_dump()),
                }
            )
        }
    )
    assert isinstance(newer.spec.nodes[0], NewerNode) and isinstance(newer.spec.flow, NewerFlow)
    plain = _digests(graph)
    assert set(plain) == {"chain-adder", "chain-multiplier", "chain-ingress"}
    assert all(plain.values())
    assert _digests(newer) == plain


def test_fields_spelt_out_at_their_defaults_roll_no_pods() -> None:
    # A newer braid adds fields with defaults; a graph that did not set them must keep its
    # digests, or upgrading the operator would roll every graph's pods.
    document = graph_of("examples/chain/graph.yaml").model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    document["spec"]["nodes"][0]["maxOngoingRequests"] = 16
    document["spec"]["ingress"] = {"requestTimeoutSeconds": 60, "replicas": 1}
    document["spec"]["flow"]["steps"][0]["optional"] = None
    plain = _digests(chain())
    assert set(plain) == {"chain-adder", "chain-multiplier", "chain-ingress"}
    assert all(plain.values())
    assert _digests(validate_graph(document)) == plain
    # A real change still rolls what it concerns: the adder's code, the ingress's settings.
    assert _digests(chain(maxOngoingRequests=32))["chain-adder"] != plain["chain-adder"]
    document["spec"]["ingress"]["requestTimeoutSeconds"] = 30
    assert _digests(validate_graph(document))["chain-ingress"] != plain["chain-ingress"]
