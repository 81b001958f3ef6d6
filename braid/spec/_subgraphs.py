"""Graphs made of graphs: which graphs a graph calls, and the rule that needs them all at once.

A step with ``graph: NAME`` calls another DeploymentGraph of the same namespace through its
ingress (docs/decisions/0023-sub-graphs.md). One manifest's own rules check such a step's shape
(:mod:`braid.spec._flow_rules`); whether the graphs call each other in a cycle can only be told
when several graphs are known together: ``braid validate a.yaml b.yaml``, ``braid run a.yaml
b.yaml``, or the operator reading a namespace's graphs. :func:`check_graph_set` is that rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from braid.spec._errors import Problem
from braid.spec._graphs import DeploymentGraph


def subgraphs_of(graph: DeploymentGraph) -> dict[str, int]:
    """The graphs that ``graph``'s steps call, each with the index of the first step calling it."""
    found: dict[str, int] = {}
    for index, step in enumerate(graph.spec.flow.steps):
        if step.graph is not None:
            found.setdefault(step.graph, index)
    return found


@dataclass(frozen=True, slots=True)
class GraphSetProblem:
    """A problem of one graph of a set: ``index`` is the graph's position in the set."""

    index: int
    problem: Problem


def check_graph_set(graphs: Sequence[DeploymentGraph]) -> list[GraphSetProblem]:
    """Cycles of sub-graph calls among ``graphs``, one problem per cycle.

    Graphs are keyed by name; a graph that calls itself is reported by its own rules already.
    Each cycle is reported once, at the step of its first graph (in the order given) that calls
    the next graph of the cycle: ``the graphs call each other in a cycle: a -> b -> a``.
    """
    index_of = {graph.metadata.name: index for index, graph in enumerate(graphs)}
    calls = {graph.metadata.name: subgraphs_of(graph) for graph in graphs}
    edges = {
        name: sorted(called for called in targets if called in calls and called != name)
        for name, targets in calls.items()
    }
    problems: list[GraphSetProblem] = []
    reported: set[frozenset[str]] = set()
    for start in sorted(edges, key=index_of.__getitem__):
        cycle = _cycle_from(start, edges)
        if cycle is None or frozenset(cycle) in reported:
            continue
        reported.add(frozenset(cycle))
        step = calls[start][cycle[1]]
        shown = " -> ".join(cycle)
        problems.append(
            GraphSetProblem(
                index_of[start],
                Problem(
                    f"spec.flow.steps[{step}].graph",
                    f"the graphs call each other in a cycle: {shown} (a request would never end)",
                ),
            )
        )
    return problems


def _cycle_from(start: str, edges: dict[str, list[str]]) -> list[str] | None:
    """A path ``start -> ... -> start`` along the calls, if there is one (depth first)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        current, path = stack.pop()
        for called in reversed(edges.get(current, ())):
            if called == start:
                return [*path, start]
            if called not in visited:
                visited.add(called)
                stack.append((called, [*path, called]))
    return None
