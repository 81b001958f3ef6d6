"""What a real cluster does that kmock does not, modelled by the fixture (operator_emulator.py).

No finalizer ever (deletion must not wait for the operator), specs of any size under the 256 KiB
annotation cap, 403s from a hardened cluster, API server outages with and without peering, and
hand edits corrected by the drift check.
"""

from __future__ import annotations

import json
from typing import Any

from operator_emulator import ANNOTATIONS_LIMIT, GRAPHS, ApiServer, annotations_size, eventually
from test_handlers import GRAPH_URL, NS, chain, condition, create

from braid.operator import OperatorSettings

#: Fast retries and a fast drift check, so that the tests see them happen.
FAST = OperatorSettings(resync_seconds=0.3, backoff_seconds=0.05, backoff_max_seconds=0.2)
KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


def deployments(server: ApiServer) -> dict[str, dict[str, Any]]:
    return server.all_stored("apps/v1/deployments")


async def three_deployments(server: ApiServer) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = await eventually(
        lambda: len(d := deployments(server)) == 3 and d, 20
    )
    return found


def finalizer_writes(server: ApiServer) -> list[str]:
    """Every write to a graph that mentions finalizers."""
    return [
        json.dumps(request.data)
        for request in server
        if request.method in {"PATCH", "POST", "PUT"}
        and "deploymentgraphs" in request.url.path
        and "finalizers" in json.dumps(request.data)
    ]


async def hand_edit(server: ApiServer, name: str, changes: dict[str, Any]) -> None:
    response = await server.patch(
        f"/apis/apps/v1/namespaces/{NS}/deployments/{name}",
        json=changes,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status < 300, await response.text()


def model_image(server: ApiServer, name: str) -> str:
    template = deployments(server)[name]["spec"]["template"]
    model = next(c for c in template["spec"]["containers"] if c["name"] == "model")
    return str(model["image"])


async def test_drift_is_corrected_and_no_finalizer_is_ever_added(
    api_server: ApiServer, start_operator: Any
) -> None:
    await start_operator(FAST)
    await create(api_server, chain())
    await three_deployments(api_server)
    await hand_edit(api_server, "chain-adder", {"spec": {"replicas": 7}})
    # The drift check (not a kopf timer) puts the replica count back.
    await eventually(lambda: deployments(api_server)["chain-adder"]["spec"]["replicas"] == 1)
    graph = api_server.stored(GRAPHS, NS, "chain")
    assert graph is not None
    assert not graph["metadata"].get("finalizers")
    assert finalizer_writes(api_server) == []
    response = await api_server.delete(f"{GRAPH_URL}/chain")
    assert response.status < 300
    # Gone at once: nothing waits for the operator (the emulator keeps objects with finalizers).
    assert api_server.stored(GRAPHS, NS, "chain") is None


async def test_a_finalizer_left_by_an_earlier_operator_is_removed(
    api_server: ApiServer, start_operator: Any
) -> None:
    await start_operator(FAST)
    body = chain()
    body["metadata"]["finalizers"] = [KOPF_FINALIZER]
    await create(api_server, body)
    await eventually(
        lambda: not (api_server.stored(GRAPHS, NS, "chain") or {})["metadata"].get("finalizers")
    )


async def test_a_hand_edit_of_a_versioned_node_is_reverted(
    api_server: ApiServer, start_operator: Any
) -> None:
    await start_operator(FAST)
    body = chain()
    body["spec"]["nodes"][0]["version"] = "1"
    body["spec"]["nodes"][0]["image"] = "registry.example.com/adder:1"
    await create(api_server, body)
    await three_deployments(api_server)
    containers = deployments(api_server)["chain-adder"]["spec"]["template"]["spec"]["containers"]
    edited = [
        dict(c, image="evil.example.com/adder:x") if c["name"] == "model" else c for c in containers
    ]
    await hand_edit(
        api_server, "chain-adder", {"spec": {"template": {"spec": {"containers": edited}}}}
    )
    assert model_image(api_server, "chain-adder") == "evil.example.com/adder:x"
    await eventually(
        lambda: model_image(api_server, "chain-adder") == "registry.example.com/adder:1"
    )


async def test_a_spec_over_the_annotation_cap_is_reconciled_and_deleted(
    api_server: ApiServer, start_operator: Any
) -> None:
    await start_operator(FAST)
    body = chain()
    blob = "x" * (ANNOTATIONS_LIMIT + 10_000)
    body["spec"]["nodes"][0]["init"] = {"table": blob}
    await create(api_server, body)
    await three_deployments(api_server)
    graph = await eventually(
        lambda: (g := api_server.stored(GRAPHS, NS, "chain")) and g.get("status") and g
    )
    assert annotations_size(graph) < 1024
    config_map = api_server.stored("v1/configmaps", NS, "chain-graph")
    assert config_map is not None and blob in config_map["data"]["graph.json"]
    response = await api_server.delete(f"{GRAPH_URL}/chain")
    assert response.status < 300
    assert api_server.stored(GRAPHS, NS, "chain") is None


async def test_the_emulator_refuses_annotations_over_the_cap(api_server: ApiServer) -> None:
    body = chain()
    body["metadata"]["annotations"] = {"big": "x" * (ANNOTATIONS_LIMIT + 1)}
    response = await api_server.post(GRAPH_URL, json=body)
    assert response.status == 422
    assert "Too long" in await response.text()


async def test_forbidden_writes_are_retried_with_backoff(
    api_server: ApiServer, start_operator: Any
) -> None:
    # A hardened cluster refuses the first writes (an RBAC change has not reached it yet).
    api_server.forbid("/deployments/", 3)
    await start_operator(FAST.model_copy(update={"resync_seconds": 3600.0}))
    await create(api_server, chain())
    await three_deployments(api_server)
    assert api_server.refused == 3


async def ride_out_an_outage(server: ApiServer, runner: Any, path_part: str) -> None:
    """An outage long enough that ``path_part`` was refused more than kopf's nine tries."""
    await create(server, chain())
    await three_deployments(server)
    refused_before = server.refused
    server.outage(True)
    try:
        await eventually(lambda: sum(1 for r in server.refusals if path_part in r) >= 15, 40)
    finally:
        server.outage(False)
    assert server.refused > refused_before
    second = chain()
    second["metadata"]["name"] = "again"
    await create(server, second)
    await eventually(lambda: "again-adder" in deployments(server), 30)
    assert runner.crashed is None


async def test_an_api_outage_is_ridden_out_standalone(
    api_server: ApiServer, start_operator: Any
) -> None:
    runner = await start_operator(FAST.model_copy(update={"resync_seconds": 3600.0}))
    await ride_out_an_outage(api_server, runner, "deploymentgraphs")


async def test_an_api_outage_is_ridden_out_with_peering(
    api_server: ApiServer, start_operator: Any
) -> None:
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": "braid"},
    }
    response = await api_server.post("/apis/kopf.dev/v1/clusterkopfpeerings", json=peering)
    assert response.status < 300
    settings = FAST.model_copy(
        update={"resync_seconds": 3600.0, "peering_name": "braid", "priority": 5}
    )
    runner = await start_operator(settings)
    await ride_out_an_outage(api_server, runner, "clusterkopfpeerings")
    stored = api_server.stored("kopf.dev/v1/clusterkopfpeerings", None, "braid") or {}
    assert runner.identity in (stored.get("status") or {})


async def test_the_invalid_condition_is_not_an_error_in_the_log(
    api_server: ApiServer, start_operator: Any
) -> None:
    runner = await start_operator(FAST)
    body = chain()
    body["spec"]["flow"]["output"] = "$nowhere"
    await create(api_server, body)
    await eventually(
        lambda: (
            (condition(api_server.stored(GRAPHS, NS, "chain"), "Invalid") or {}).get("status")
            == "True"
        )
    )
    assert "InvalidSpec" in runner.events.reasons
    # The Event is posted after the status is written: wait for it too.
    posted = await eventually(lambda: api_server.all_stored("v1/events"))
    assert posted and all(e["source"]["component"] == "braid" for e in posted.values())


async def test_a_crash_looping_pod_makes_its_node_degraded(
    api_server: ApiServer, start_operator: Any
) -> None:
    await start_operator(FAST)
    await create(api_server, chain())
    await three_deployments(api_server)
    template = deployments(api_server)["chain-adder"]["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "chain-adder-1",
            "namespace": NS,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
        "status": {
            "containerStatuses": [
                {
                    "name": "model",
                    "restartCount": 7,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "message": "bad class"}},
                }
            ]
        },
    }
    response = await api_server.post(f"/api/v1/namespaces/{NS}/pods", json=pod)
    assert response.status < 300
    degraded = await eventually(
        lambda: (
            (c := condition(api_server.stored(GRAPHS, NS, "chain"), "Degraded"))
            and c["status"] == "True"
            and c
        )
    )
    assert (
        "adder: container model CrashLoopBackOff (restarted 7 times): bad class"
        in degraded["message"]
    )
