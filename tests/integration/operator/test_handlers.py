"""The kopf handlers against kmock's emulated API: create, update, prune, invalid, delete."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import yaml
from operator_emulator import GRAPHS, ApiServer, eventually

from braid.spec import GROUP_VERSION

NS = "shop"
GRAPH_URL = f"/apis/{GROUP_VERSION}/namespaces/{NS}/deploymentgraphs"


def chain() -> dict[str, Any]:
    with open("examples/chain/graph.yaml") as handle:
        body: dict[str, Any] = yaml.safe_load(handle)
    body["metadata"]["namespace"] = NS
    return body


async def create(server: ApiServer, body: dict[str, Any]) -> None:
    response = await server.post(GRAPH_URL, json=body)
    assert response.status < 300, await response.text()


async def patch(server: ApiServer, name: str, changes: dict[str, Any]) -> None:
    response = await server.patch(
        f"{GRAPH_URL}/{name}",
        json=changes,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status < 300, await response.text()


async def test_create_renders_every_object(api_server: ApiServer, start_operator: Any) -> None:
    await start_operator()
    await create(api_server, chain())
    deployments = await eventually(
        lambda: (
            len(api_server.all_stored("apps/v1/deployments")) == 3
            and api_server.all_stored("apps/v1/deployments")
        )
    )
    assert set(deployments) == {"chain-adder", "chain-multiplier", "chain-ingress"}
    graph = await eventually(
        lambda: (g := api_server.stored(GRAPHS, NS, "chain")) and g.get("status") and g
    )
    uid = graph["metadata"]["uid"]
    for deployment in deployments.values():
        assert deployment["metadata"]["ownerReferences"][0]["uid"] == uid
    assert api_server.stored("v1/configmaps", NS, "chain-graph") is not None
    status = graph["status"]
    assert status["readyNodes"] == "0/2"
    assert status["endpoint"]["http"] == f"http://chain-ingress.{NS}.svc:8000/"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert "adder" in ready["message"]


async def started_chain(server: ApiServer, start_operator: Any) -> dict[str, dict[str, Any]]:
    """Start an operator, create the chain graph, and wait for its three Deployments and for the
    reconcile's end (its status write comes after every child is applied)."""
    await start_operator()
    await create(server, chain())
    deployments: dict[str, dict[str, Any]] = await eventually(
        lambda: len(found := server.all_stored("apps/v1/deployments")) == 3 and found
    )
    await eventually(lambda: reconciled(server, "chain"))
    return deployments


def reconciled(server: ApiServer, name: str) -> bool:
    """Whether the graph's status says a reconcile of its current generation has ended."""
    graph = server.stored(GRAPHS, NS, name) or {}
    observed = (graph.get("status") or {}).get("observedGeneration")
    return observed is not None and observed == graph["metadata"].get("generation")


def templates(server: ApiServer) -> dict[str, Any]:
    return {
        name: deployment["spec"]["template"]
        for name, deployment in server.all_stored("apps/v1/deployments").items()
    }


def graph_json(server: ApiServer) -> dict[str, Any]:
    config_map = server.stored("v1/configmaps", NS, "chain-graph")
    assert config_map is not None
    document: dict[str, Any] = json.loads(config_map["data"]["graph.json"])
    return document


async def test_image_change_rolls_only_that_node(
    api_server: ApiServer, start_operator: Any
) -> None:
    await started_chain(api_server, start_operator)
    before = templates(api_server)
    spec = chain()["spec"]
    spec["nodes"][0]["image"] = "registry.example.com/adder:2"
    await patch(api_server, "chain", {"spec": {"nodes": spec["nodes"]}})
    after = await eventually(
        lambda: (t := templates(api_server))["chain-adder"] != before["chain-adder"] and t
    )
    model = after["chain-adder"]["spec"]["containers"][0]
    assert model["image"] == "registry.example.com/adder:2"
    assert after["chain-multiplier"] == before["chain-multiplier"]
    assert after["chain-ingress"] == before["chain-ingress"]


async def test_user_config_change_touches_only_the_config_map(
    api_server: ApiServer, start_operator: Any
) -> None:
    await started_chain(api_server, start_operator)
    before = templates(api_server)
    spec = chain()["spec"]
    spec["nodes"][1]["userConfig"] = {"factor": 3}
    await patch(api_server, "chain", {"spec": {"nodes": spec["nodes"]}})
    await eventually(
        lambda: graph_json(api_server)["spec"]["nodes"][1]["userConfig"]["factor"] == 3
    )
    assert templates(api_server) == before


async def test_removed_node_is_pruned(api_server: ApiServer, start_operator: Any) -> None:
    await started_chain(api_server, start_operator)
    spec = chain()["spec"]
    spec["nodes"] = spec["nodes"][:1]
    spec["flow"]["steps"] = spec["flow"]["steps"][:1]
    spec["flow"]["output"] = "$sum"
    await patch(api_server, "chain", {"spec": {"nodes": spec["nodes"], "flow": spec["flow"]}})
    # Pruning deletes workloads first, Services after them.
    await eventually(lambda: api_server.stored("v1/services", NS, "chain-multiplier") is None)
    assert set(api_server.all_stored("apps/v1/deployments")) == {"chain-adder", "chain-ingress"}
    assert api_server.stored("v1/services", NS, "chain-adder") is not None
    nodes = [node["name"] for node in graph_json(api_server)["spec"]["nodes"]]
    assert nodes == ["adder"]


def condition(graph: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for found in ((graph or {}).get("status") or {}).get("conditions") or []:
        if found["type"] == kind:
            return dict(found)
    return None


def status_writes(server: ApiServer, name: str) -> int:
    path = f"{GRAPH_URL}/{name}/status"
    return sum(1 for request in server if request.url.path == path)


async def test_invalid_graph_gets_every_problem_and_no_children(
    api_server: ApiServer, start_operator: Any
) -> None:
    runner = await start_operator()
    body = chain()
    body["spec"]["nodes"][0]["resources"] = {"gpu": 0.5}
    body["spec"]["flow"]["steps"][1]["call"] = "multiplyer.multiply"
    await create(api_server, body)
    invalid = await eventually(
        lambda: (
            (c := condition(api_server.stored(GRAPHS, NS, "chain"), "Invalid"))
            and c["status"] == "True"
            and c
        )
    )
    assert "spec.nodes[0].resources.gpu" in invalid["message"]
    assert 'unknown node "multiplyer"' in invalid["message"]
    # The event is posted after the status write that the condition came in.
    await eventually(lambda: "InvalidSpec" in runner.events.reasons)
    writes = status_writes(api_server, "chain")
    # Give a retry loop, if there were one, the time to show itself: kopf's first retry is 1 s.
    await asyncio.sleep(1.5)
    assert status_writes(api_server, "chain") == writes
    for resource in ("apps/v1/deployments", "v1/configmaps", "v1/services", "v1/serviceaccounts"):
        assert api_server.all_stored(resource) == {}


async def test_invalid_update_leaves_children_as_they_are(
    api_server: ApiServer, start_operator: Any
) -> None:
    await started_chain(api_server, start_operator)
    before = api_server.all_stored("apps/v1/deployments")
    config_map = api_server.stored("v1/configmaps", NS, "chain-graph")
    await patch(api_server, "chain", {"spec": {"flow": {"output": "$nowhere"}}})
    await eventually(
        lambda: (
            (condition(api_server.stored(GRAPHS, NS, "chain"), "Invalid") or {}).get("status")
            == "True"
        )
    )
    assert api_server.all_stored("apps/v1/deployments") == before
    assert api_server.stored("v1/configmaps", NS, "chain-graph") == config_map


async def set_ready(server: ApiServer, name: str, ready: int) -> None:
    deployment = server.stored("apps/v1/deployments", NS, name)
    assert deployment is not None
    replicas = deployment["spec"]["replicas"]
    status = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    response = await server.patch(
        f"/apis/apps/v1/namespaces/{NS}/deployments/{name}/status",
        json={"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status < 300, await response.text()


async def test_status_follows_deployment_readiness(
    api_server: ApiServer, start_operator: Any
) -> None:
    deployments = await started_chain(api_server, start_operator)
    for name in deployments:
        await set_ready(api_server, name, 1)
    graph = await eventually(
        lambda: (
            (g := api_server.stored(GRAPHS, NS, "chain"))
            and (condition(g, "Ready") or {}).get("status") == "True"
            and g
        )
    )
    assert graph["status"]["readyNodes"] == "2/2"
    assert (condition(graph, "Progressing") or {}).get("status") == "False"
    assert {node["name"]: node["readyReplicas"] for node in graph["status"]["nodes"]} == {
        "adder": 1,
        "multiplier": 1,
    }
    await set_ready(api_server, "chain-multiplier", 0)
    ready = await eventually(
        lambda: (
            (c := condition(api_server.stored(GRAPHS, NS, "chain"), "Ready"))
            and c["status"] == "False"
            and c
        )
    )
    assert "multiplier" in ready["message"]
    assert "adder" not in ready["message"]
    assert api_server.stored(GRAPHS, NS, "chain")["status"]["readyNodes"] == "1/2"


async def test_delete_leaves_children_to_the_garbage_collector(
    api_server: ApiServer, start_operator: Any
) -> None:
    deployments = await started_chain(api_server, start_operator)
    uid = api_server.stored(GRAPHS, NS, "chain")["metadata"]["uid"]
    response = await api_server.delete(f"{GRAPH_URL}/chain")
    assert response.status < 300
    await eventually(lambda: api_server.stored(GRAPHS, NS, "chain") is None)
    # What the garbage collector does with owned objects; then nothing may bring them back.
    for name, deployment in deployments.items():
        assert deployment["metadata"]["ownerReferences"][0]["uid"] == uid
        response = await api_server.delete(f"/apis/apps/v1/namespaces/{NS}/deployments/{name}")
        assert response.status < 300
    writes = children_writes(api_server)
    await asyncio.sleep(1.0)
    assert api_server.all_stored("apps/v1/deployments") == {}
    late = [f"{r.method} {r.url.path}" for r in list(api_server)[-5:]]
    assert children_writes(api_server) == writes, late  # what wrote, should it ever happen


def children_writes(server: ApiServer) -> int:
    """Creates and patches of anything but graphs and Events."""
    return sum(
        1
        for request in server
        if request.method in {"PATCH", "POST"}
        and "deploymentgraphs" not in request.url.path
        and "/events" not in request.url.path
    )
