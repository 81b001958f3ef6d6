"""The operator's autoscaler against kmock's emulated API: it reads the pods' load (through a
fake metrics reader: pods have no real metrics port here), patches the Deployment's replicas with
the reason, posts an Event, shows the count and the reason in the status, and the reconcile keeps
the count it chose; a node goes to zero when idle and wakes when a caller holds requests."""

from __future__ import annotations

from typing import Any

import yaml
from operator_emulator import GRAPHS, ApiServer, eventually

from braid.operator import OperatorSettings
from braid.spec import GROUP_VERSION

NS = "shop"
GRAPH_URL = f"/apis/{GROUP_VERSION}/namespaces/{NS}/deploymentgraphs"
FAST = OperatorSettings(autoscale_seconds=0.1)


def scaled_chain(**autoscaling: Any) -> dict[str, Any]:
    with open("examples/chain/graph.yaml") as handle:
        body: dict[str, Any] = yaml.safe_load(handle)
    body["metadata"]["namespace"] = NS
    adder = next(n for n in body["spec"]["nodes"] if n["name"] == "adder")
    adder.pop("replicas", None)
    adder["autoscaling"] = {"maxReplicas": 5, "upscaleDelaySeconds": 0, **autoscaling}
    return body


class Loads:
    """What each pod's metrics port would answer, by pod address."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    async def read(self, address: str) -> str:
        return self.texts.get(address, "")


async def add_pod(server: ApiServer, name: str, ip: str, component: str, node: str = "") -> None:
    labels = {"braid.dev/graph": "chain", "braid.dev/component": component}
    if node:
        labels["braid.dev/node"] = node
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    response = await server.post(f"/api/v1/namespaces/{NS}/pods", json=pod)
    assert response.status < 300, await response.text()


def replicas(server: ApiServer, name: str = "chain-adder") -> int | None:
    deployment = server.stored("apps/v1/deployments", NS, name)
    return None if deployment is None else deployment["spec"].get("replicas")


def scaled_events(server: ApiServer) -> list[str]:
    return [
        e["message"] for e in server.all_stored("v1/events").values() if e["reason"] == "Scaled"
    ]


async def test_the_operator_scales_a_deployment_and_the_reconcile_keeps_it(
    api_server: ApiServer, start_operator: Any
) -> None:
    loads = Loads()
    await start_operator(FAST, load_reader=loads.read)
    response = await api_server.post(GRAPH_URL, json=scaled_chain(targetOngoingRequests=2))
    assert response.status < 300
    await eventually(lambda: replicas(api_server) == 1)
    assert api_server.all_stored("autoscaling/v2/horizontalpodautoscalers") == {}
    await add_pod(api_server, "chain-adder-a", "10.0.0.1", "node", "adder")
    loads.texts["10.0.0.1:9090"] = (
        'braid_ongoing_requests{graph="chain",node="adder"} 8.0\n'
        'braid_queued_requests{graph="chain",node="adder"} 1.6\n'
    )
    await eventually(lambda: replicas(api_server) == 5)
    reason = "node adder: 1 -> 5 replicas, 9.6 ongoing per replica > target 2"
    deployment = api_server.stored("apps/v1/deployments", NS, "chain-adder")
    assert deployment is not None
    assert deployment["metadata"]["annotations"]["braid.dev/scaling-reason"] == reason
    assert await eventually(lambda: scaled_events(api_server)) == [reason]
    status = await eventually(
        lambda: [
            n
            for n in ((api_server.stored(GRAPHS, NS, "chain") or {}).get("status") or {}).get(
                "nodes", []
            )
            if n["name"] == "adder" and n.get("scalingReason") == reason
        ]
    )
    assert status[0]["desiredReplicas"] == 5
    # A spec change reconciles the graph again: the count the autoscaler chose stays.
    loads.texts.clear()  # no pod reports load now; the downscale delay (600 s) holds it
    response = await api_server.patch(
        f"{GRAPH_URL}/chain",
        json={"spec": {"image": "registry.example.com/other:2"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status < 300
    await eventually(
        lambda: (
            (d := api_server.stored("apps/v1/deployments", NS, "chain-adder"))
            and d["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.example.com/other:2"
        )
    )
    assert replicas(api_server) == 5


async def test_an_idle_node_goes_to_zero_and_held_requests_wake_it(
    api_server: ApiServer, start_operator: Any
) -> None:
    loads = Loads()
    await start_operator(FAST, load_reader=loads.read)
    body = scaled_chain(minReplicas=0, downscaleToZeroDelaySeconds=0)
    response = await api_server.post(GRAPH_URL, json=body)
    assert response.status < 300
    await eventually(lambda: "chain-adder" in api_server.all_stored("apps/v1/deployments"))
    await eventually(lambda: replicas(api_server) == 0)  # minReplicas 0 and no load
    await add_pod(api_server, "chain-ingress-a", "10.0.0.9", "ingress")
    loads.texts["10.0.0.9:9090"] = 'braid_held_requests{graph="chain",node="adder"} 3.0\n'
    await eventually(lambda: replicas(api_server) == 1)
    woke = "node adder: 0 -> 1 replicas, 3 requests held while it had none"
    await eventually(lambda: woke in scaled_events(api_server))  # posted after the patch
    loads.texts.clear()
    await eventually(lambda: replicas(api_server) == 0)
    await eventually(lambda: "node adder: 1 -> 0 replicas, idle" in scaled_events(api_server))
