"""What the graph's rules look at: a :class:`GraphView` of the nodes and steps that parsed.

A view is taken from a whole graph (:meth:`GraphView.of`) or, after a schema failure, from the
parts of the document that parse on their own (``braid.spec._validating``), each with its index
in the file so that problems carry the right field path. The helpers here are shared by the node
rules and the flow rules.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from braid.spec._errors import Problem
from braid.spec._graphs import DeploymentGraph, Group, Node, Step


@dataclass(frozen=True)
class GraphView:
    """What the graph pass needs, taken from a whole graph or from the parts that parsed."""

    name: str | None
    nodes: list[tuple[int, Node]]
    node_names: set[str]
    steps: list[tuple[int, Step]]
    step_names: set[str]
    flow_input: str | None
    #: The output: a reference, or a map or list of references (None when it did not parse).
    output: object
    route_prefix: str | None
    #: The ingress's own ASGI app (spec.ingress.http.app), if any.
    ingress_app: str | None = None
    #: False when some node or step failed the schema pass: rules that need them all are skipped.
    complete: bool = True
    #: False when spec.nodes (flow.steps) is not even a list: no name is known, so the rules do
    #: not report references to unknown nodes (steps), which would all be noise.
    nodes_known: bool = True
    steps_known: bool = True
    #: Co-location groups (spec.groups), each with its index in the file.
    groups: list[tuple[int, Group]] = field(default_factory=list)
    #: Steps whose results a request may ask for (spec.flow.expose).
    expose: list[str] = field(default_factory=list)
    nodes_by_name: dict[str, Node] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes_by_name", {node.name: node for _, node in self.nodes})

    @classmethod
    def of(cls, graph: DeploymentGraph) -> GraphView:
        spec = graph.spec
        return cls(
            name=graph.metadata.name,
            nodes=list(enumerate(spec.nodes)),
            node_names={node.name for node in spec.nodes},
            steps=list(enumerate(spec.flow.steps)),
            step_names={step.name for step in spec.flow.steps},
            flow_input=spec.flow.input,
            output=spec.flow.output,
            route_prefix=spec.ingress.http.route_prefix,
            ingress_app=spec.ingress.http.app,
            groups=list(enumerate(spec.groups)),
            expose=list(spec.flow.expose),
        )


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``' (did you mean "x"?)'`` for the closest candidate to a misspelt word, else ``""``."""
    matches = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{matches[0]}"?)' if matches else ""


def check_unique(path: str, names: list[str], what: str) -> list[Problem]:
    """A problem at ``path[i]`` for each name that repeats an earlier one."""
    seen: set[str] = set()
    problems = []
    for index, name in enumerate(names):
        if name in seen:
            problems.append(Problem(f"{path}[{index}]", f'duplicate {what} "{name}"'))
        seen.add(name)
    return problems
