"""Sub-graph steps in a cluster: graphs of one namespace that call each other in a cycle.

One manifest's rules cannot see a cycle across graphs (a step of ``review`` calls ``scoring``,
whose step calls ``review``); the operator can, since it reads every DeploymentGraph of the
namespace. :func:`cycle_problems` lists them for the graph being reconciled, which then turns
Invalid with the cycle named, as ``braid validate a.yaml b.yaml`` reports it
(docs/decisions/0023-sub-graphs.md). Graphs that fail their own validation are left out.
"""

from __future__ import annotations

import logging

from braid.operator._kubernetes import GRAPHS, KubernetesApi
from braid.spec import (
    DeploymentGraph,
    GraphInvalid,
    ManifestError,
    Problem,
    check_graph_set,
    subgraphs_of,
    validate_graph,
)

logger = logging.getLogger(__name__)


async def cycle_problems(
    api: KubernetesApi, graph: DeploymentGraph, namespace: str
) -> list[Problem]:
    """The cycles of sub-graph calls that ``graph`` starts among its namespace's graphs."""
    if not subgraphs_of(graph):
        return []
    others: list[DeploymentGraph] = []
    for body in await api.list_objects(GRAPHS, namespace, ""):
        name = (body.get("metadata") or {}).get("name")
        if name == graph.metadata.name:
            continue
        try:
            others.append(validate_graph({k: v for k, v in body.items() if k != "status"}))
        except (GraphInvalid, ManifestError):
            logger.debug("graph %s/%s is invalid; left out of the cycle check", namespace, name)
    return [found.problem for found in check_graph_set([graph, *others]) if found.index == 0]
