"""The kopf handlers against kmock's emulated API: create, update, prune, invalid, delete."""

from __future__ import annotations

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
