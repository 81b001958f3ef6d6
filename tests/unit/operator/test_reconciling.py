"""The reconciler's rule for a graph too big for its ConfigMap: Invalid, and nothing applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from braid.operator import CONFIG_MAP_LIMIT_BYTES, OperatorSettings, Reconciler, Transition
from braid.operator._errors import ObjectNotFound


class Recording:
    """A KubernetesApi that records writes and has no objects."""

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []
        self.status: dict[str, Any] | None = None
        #: What a read of the graph gives (None: it is gone).
        self.current: dict[str, Any] | None = {}

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.applied.append(obj)
        return obj

    async def list_objects(self, resource: Any, namespace: str, selector: str) -> list[Any]:
        return []

    async def get(self, resource: Any, namespace: str, name: str) -> dict[str, Any]:
        if self.current is None:
            raise ObjectNotFound(f"{name} not found", 404)
        return self.current

    async def delete(self, resource: Any, namespace: str, name: str) -> None:
        return None

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.status = status

    async def create(self, resource: Any, namespace: str, obj: dict[str, Any]) -> None:
        return None


class NoEvents:
    async def record(self, graph: Any, transition: Transition) -> None:
        return None


def chain_body() -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(Path("examples/chain/graph.yaml").read_text())
    return body


async def test_a_graph_too_big_for_its_config_map_is_invalid_and_creates_nothing() -> None:
    body = chain_body()
    body["metadata"].update(namespace="shop", uid="u-1", generation=1)
    body["spec"]["nodes"][0]["init"] = {"table": "x" * CONFIG_MAP_LIMIT_BYTES}
    api = Recording()
    outcome = await Reconciler(api, OperatorSettings(), NoEvents()).reconcile(body)  # type: ignore[arg-type]
    assert outcome.invalid
    assert api.applied == []
    assert api.status is not None
    invalid = next(c for c in api.status["conditions"] if c["type"] == "Invalid")
    assert invalid["status"] == "True"
    assert (
        f"over the {CONFIG_MAP_LIMIT_BYTES} bytes (1 MiB) a ConfigMap holds" in invalid["message"]
    )


@pytest.mark.parametrize(
    "current",
    [
        None,
        {"metadata": {"uid": "u-1", "deletionTimestamp": "2026-11-30T08:00:00Z"}},
        {"metadata": {"uid": "u-2"}},
    ],
    ids=["gone", "being-deleted", "replaced"],
)
async def test_an_old_copy_of_a_deleted_graph_writes_no_child(current: Any) -> None:
    """kopf can hand over the body of an event queued before the graph's delete."""
    body = chain_body()
    body["metadata"].update(namespace="shop", uid="u-1", generation=1)
    api = Recording()
    api.current = current
    outcome = await Reconciler(api, OperatorSettings(), NoEvents()).reconcile(body)  # type: ignore[arg-type]
    assert outcome.status is None
    assert api.applied == []
    assert api.status is None


async def test_the_graph_still_there_is_reconciled() -> None:
    body = chain_body()
    body["metadata"].update(namespace="shop", uid="u-1", generation=1)
    api = Recording()
    api.current = {"metadata": {"uid": "u-1"}}
    outcome = await Reconciler(api, OperatorSettings(), NoEvents()).reconcile(body)  # type: ignore[arg-type]
    assert outcome.status is not None
    assert {obj["kind"] for obj in api.applied} >= {"Deployment", "Service", "ConfigMap"}


class WithGraphs(Recording):
    """A KubernetesApi whose namespace holds the given DeploymentGraphs."""

    def __init__(self, graphs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.graphs = graphs

    async def list_objects(self, resource: Any, namespace: str, selector: str) -> list[Any]:
        return self.graphs if resource.kind == "DeploymentGraph" else []


def subgraphs_body(file: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(Path("examples/subgraphs", file).read_text())
    body["metadata"].update(namespace="shop", uid=f"u-{file}", generation=1)
    return body


async def test_graphs_of_a_namespace_that_call_each_other_in_a_cycle_are_invalid() -> None:
    review, scoring = subgraphs_body("graph.yaml"), subgraphs_body("graph-scoring.yaml")
    # The scoring graph calls the review graph back: review -> scoring -> review.
    scoring["spec"]["flow"]["steps"].append(
        {"name": "again", "graph": "review", "args": ["$score"]}
    )
    scoring["spec"]["flow"]["output"] = "$again"
    api = WithGraphs([review, scoring])
    outcome = await Reconciler(api, OperatorSettings(), NoEvents()).reconcile(review)  # type: ignore[arg-type]
    assert outcome.invalid and api.applied == []
    assert api.status is not None
    invalid = next(c for c in api.status["conditions"] if c["type"] == "Invalid")
    assert (
        "the graphs call each other in a cycle: review -> scoring -> review" in invalid["message"]
    )
    assert "spec.flow.steps[1].graph" in invalid["message"]


async def test_a_graph_whose_subgraph_calls_nothing_back_is_applied() -> None:
    review, scoring = subgraphs_body("graph.yaml"), subgraphs_body("graph-scoring.yaml")
    api = WithGraphs([review, scoring])
    outcome = await Reconciler(api, OperatorSettings(), NoEvents()).reconcile(review)  # type: ignore[arg-type]
    assert not outcome.invalid and api.applied
