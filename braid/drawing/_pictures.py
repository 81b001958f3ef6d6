"""A graph's flow as a picture: vertices, arrows and co-location clusters, before any format.

:func:`picture_of` turns a :class:`~braid.spec.GraphView` (a whole graph, or the parts of an
invalid manifest that parse) and its problems into a :class:`Picture`. The Mermaid, DOT and SVG
writers only lay it out and spell it; what is drawn, and why, is decided here:

- the graph input and the output are ovals;
- a step is a box with its name and its ``node.method``; a sub-graph step (``graph:``) is a
  double-bordered box with ``graph: NAME``, since a whole graph stands behind it;
- a dispatch step is a rhombus with the value it switches on, and each case (and the default)
  is a box of its own below it, with the ``when`` value on the arrow. Consumers of a dispatch
  step draw their arrows from every case, since any of them may produce the value;
- an arrow is a reference: its label is the keyword argument and the field it picks, if any;
- a handle is a dashed arrow from every vertex that runs the owning node to a vertex for the
  handle's node (drawn once per node, and followed, so handles of handles show too);
- a co-location group is a cluster around the vertices that run its nodes;
- an optional (soft) step has a dashed border, and a line under its call says how it survives
  failures: "optional, fallback ...", "timeout 1 s", "retries 3"; a quorum join says
  "quorum 2 of 3" (decision 0021);
- a problem is attached to the vertex its field path points at (a step, a dispatch case, the
  vertices of a node, the input, the output) and marks it; problems that point at nothing drawn
  are listed in a box of their own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from braid.spec import (
    GraphView,
    Problem,
    Reference,
    Step,
    StepCall,
    iter_references,
    parse_call,
    parse_reference,
)


class Kind(StrEnum):
    """What a vertex stands for, which decides its shape in every format."""

    INPUT = "input"
    STEP = "step"
    DISPATCH = "dispatch"
    SUBGRAPH = "subgraph"
    CASE = "case"
    HANDLE = "handle"
    OUTPUT = "output"
    PROBLEMS = "problems"


class Style(StrEnum):
    """How an arrow is drawn: a value passed on, a dispatch case chosen, or a handle held."""

    DATA = "data"
    CASE = "case"
    HANDLE = "handle"


@dataclass
class Vertex:
    """One shape of the picture."""

    id: str
    kind: Kind
    title: str
    detail: str = ""
    #: The braid node whose replicas run this vertex (steps, cases, handles), for figures.
    node: str | None = None
    problems: list[str] = field(default_factory=list)
    #: An optional step: its failure gives a fallback (drawn with a dashed border).
    soft: bool = False
    #: How the step survives failures, one line: optional, timeout, retries, quorum.
    guard: str = ""

    @property
    def lines(self) -> list[str]:
        """The text of the shape, one entry per line, problems last."""
        lines = [self.title]
        if self.detail:
            lines.append(self.detail)
        if self.guard:
            lines.append(self.guard)
        return lines + [f"! {problem}" for problem in self.problems]


@dataclass(frozen=True)
class Arrow:
    """An edge from one vertex to another, with an optional label."""

    source: str
    target: str
    style: Style = Style.DATA
    label: str = ""


@dataclass(frozen=True)
class Cluster:
    """A co-location group: the vertices that run in one pod and one process."""

    id: str
    title: str
    members: tuple[str, ...]


@dataclass
class Picture:
    """Everything a writer draws; vertices and arrows in a stable order."""

    name: str
    vertices: list[Vertex]
    arrows: list[Arrow]
    clusters: list[Cluster]
    problems: list[Problem]

    def vertex(self, vertex_id: str) -> Vertex:
        for vertex in self.vertices:
            if vertex.id == vertex_id:
                return vertex
        raise KeyError(vertex_id)

    @property
    def valid(self) -> bool:
        return not self.problems


INPUT_ID = "input"
OUTPUT_ID = "output"
PROBLEMS_ID = "problems"


def picture_of(view: GraphView, problems: Iterable[Problem] = ()) -> Picture:
    """The picture of a graph's flow, with ``problems`` marked where their paths point."""
    return _Builder(view, list(problems)).build()


class _Builder:
    def __init__(self, view: GraphView, problems: list[Problem]) -> None:
        self.view = view
        self.problems = problems
        self.vertices: dict[str, Vertex] = {}
        self.arrows: dict[tuple[str, str, Style], list[str]] = {}
        #: For a step name: the vertices whose value is the step's value (a dispatch's cases).
        self.producers: dict[str, list[str]] = {}
        self.step_vertex: dict[int, str] = {}

    def build(self) -> Picture:
        flow_input = self.view.flow_input or "input"
        self._add(Vertex(INPUT_ID, Kind.INPUT, f"${flow_input}"))
        self.producers[flow_input] = [INPUT_ID]
        for index, step in self.view.steps:
            self._add_step(index, step)
        for index, step in self.view.steps:
            self._wire_step(index, step)
        self._add(Vertex(OUTPUT_ID, Kind.OUTPUT, "output"))
        self._wire_output(self.view.output)
        self._add_handles()
        clusters = self._clusters()
        self._mark_problems(clusters)
        arrows = [
            Arrow(source, target, style, ", ".join(label for label in labels if label))
            for (source, target, style), labels in self.arrows.items()
        ]
        return Picture(
            name=self.view.name or "graph",
            vertices=list(self.vertices.values()),
            arrows=arrows,
            clusters=clusters,
            problems=self.problems,
        )

    def _add(self, vertex: Vertex) -> None:
        self.vertices.setdefault(vertex.id, vertex)

    def _arrow(self, source: str, target: str, style: Style, label: str = "") -> None:
        labels = self.arrows.setdefault((source, target, style), [])
        if label not in labels:
            labels.append(label)

    def _wire_output(self, output: object) -> None:
        """Arrows into the output: one reference, or each field of a structured output (its
        key or index is the arrow's label)."""
        if isinstance(output, str):
            self._wire(output, OUTPUT_ID, "")
        elif isinstance(output, dict):
            for key, value in output.items():
                for _, text in iter_references(value):
                    self._wire(text, OUTPUT_ID, str(key))
        elif isinstance(output, list):
            for number, value in enumerate(output):
                for _, text in iter_references(value):
                    self._wire(text, OUTPUT_ID, f"[{number}]")

    def _add_split(self, vertex_id: str, step: Step) -> None:
        """A split: a choice vertex and its cases, each arrow labelled with its share."""
        split = step.split
        if split is None:  # pragma: no cover - the caller checked
            return
        key = f" by {split.header or split.key}" if split.header or split.key else ""
        self._add(Vertex(vertex_id, Kind.DISPATCH, step.name, f"split{key}"))
        total = sum(case.weight for case in split.cases) or 1
        case_ids = []
        for number, case in enumerate(split.cases):
            case_id = f"{vertex_id}c{number}"
            case_ids.append(case_id)
            self._add(Vertex(case_id, Kind.CASE, case.call, "", _node_of(case.call)))
            self._arrow(vertex_id, case_id, Style.CASE, f"{100 * case.weight / total:.3g}%")
        self.producers.setdefault(step.name, case_ids)

    def _add_step(self, index: int, step: Step) -> None:
        vertex_id = f"s{index}"
        self.step_vertex[index] = vertex_id
        if step.split is not None:
            self._add_split(vertex_id, step)
            return
        if step.graph is not None:
            self._add(Vertex(vertex_id, Kind.SUBGRAPH, step.name, f"graph: {step.graph}"))
            self.producers.setdefault(step.name, [vertex_id])
            return
        if step.dispatch is None:
            call = step.call or "?"
            vertex = Vertex(vertex_id, Kind.STEP, step.name, call, _node_of(call))
            vertex.soft, vertex.guard = bool(step.optional), _guard_line(step)
            self._add(vertex)
            self.producers.setdefault(step.name, [vertex_id])
            return
        vertex = Vertex(vertex_id, Kind.DISPATCH, step.name, f"dispatch on {step.dispatch.value}")
        vertex.soft, vertex.guard = bool(step.optional), _guard_line(step)
        self._add(vertex)
        cases: list[tuple[str, StepCall]] = [
            (f"when {case.when}", case) for case in step.dispatch.cases
        ]
        if step.dispatch.default is not None:
            cases.append(("default", step.dispatch.default))
        case_ids = []
        for number, (label, chosen) in enumerate(cases):
            case_id = f"{vertex_id}c{number}"
            case_ids.append(case_id)
            self._add(Vertex(case_id, Kind.CASE, chosen.call, "", _node_of(chosen.call)))
            self._arrow(vertex_id, case_id, Style.CASE, label)
        self.producers.setdefault(step.name, case_ids)

    def _wire_step(self, index: int, step: Step) -> None:
        vertex_id = self.step_vertex[index]
        if step.split is not None:
            if step.split.key is not None:
                self._wire(step.split.key, vertex_id, "")
        elif step.dispatch is None:
            self._wire_arguments(step.args, step.kwargs, vertex_id)
            return
        else:
            self._wire(step.dispatch.value, vertex_id, "")
        for number, case in enumerate(step.calls()):
            self._wire_arguments(case.args, case.kwargs, f"{vertex_id}c{number}")

    def _wire_arguments(self, args: object, kwargs: dict[str, object], target: str) -> None:
        for _, text in iter_references(args):
            self._wire(text, target, "")
        for key, value in kwargs.items():
            for _, text in iter_references(value):
                self._wire(text, target, key)

    def _wire(self, text: str, target: str, keyword: str) -> None:
        """An arrow for each vertex that may produce the value ``text`` refers to."""
        try:
            reference = parse_reference(text)
        except ValueError:
            return  # a malformed reference: validation reports it on the step
        if reference is None:
            return
        picked = "." + ".".join(reference.path) if reference.path else ""
        label = f"{keyword}={picked}" if keyword and picked else keyword or picked
        for source in self.producers.get(reference.source, []):
            if source != target:
                self._arrow(source, target, Style.DATA, label)

    def _add_handles(self) -> None:
        """Dashed arrows for handles, from every vertex that runs the owning node, transitively."""
        runners: dict[str, list[str]] = {}
        for vertex in self.vertices.values():
            if vertex.node is not None:
                runners.setdefault(vertex.node, []).append(vertex.id)
        pending = list(runners)
        seen: set[str] = set()
        while pending:
            owner = pending.pop(0)
            if owner in seen:
                continue
            seen.add(owner)
            node = self.view.nodes_by_name.get(owner)
            if node is None:
                continue
            for held in node.handles:
                handle_id = f"h_{_safe(held)}"
                if handle_id not in self.vertices:
                    self._add(Vertex(handle_id, Kind.HANDLE, held, "handle", held))
                    runners.setdefault(held, []).append(handle_id)
                for source in runners.get(owner, []):
                    self._arrow(source, handle_id, Style.HANDLE)
                pending.append(held)

    def _clusters(self) -> list[Cluster]:
        clusters = []
        for index, group in self.view.groups:
            members = tuple(
                vertex.id for vertex in self.vertices.values() if vertex.node in group.nodes
            )
            if members:
                title = f"group {group.name}: one pod, one process"
                clusters.append(Cluster(f"g{index}", title, members))
        return clusters

    def _mark_problems(self, clusters: list[Cluster]) -> None:
        unplaced = []
        for problem in self.problems:
            targets = list(self._targets(problem.path, clusters))
            field_name = problem.path.rsplit(".", 1)[-1]
            for vertex_id in targets:
                self.vertices[vertex_id].problems.append(f"{field_name}: {problem.message}")
            if not targets:
                unplaced.append(f"{problem.path}: {problem.message}")
        if unplaced:
            vertex = Vertex(PROBLEMS_ID, Kind.PROBLEMS, "problems")
            vertex.problems.extend(unplaced)
            self._add(vertex)

    def _targets(self, path: str, clusters: list[Cluster]) -> Iterator[str]:
        if path.startswith("spec.flow.output"):
            yield OUTPUT_ID
            return
        if path.startswith("spec.flow.input"):
            yield INPUT_ID
            return
        step = re.match(r"spec\.flow\.steps\[(\d+)\](\.dispatch\.(cases\[(\d+)\]|default))?", path)
        if step is not None:
            vertex_id = self.step_vertex.get(int(step.group(1)))
            if vertex_id is None:
                return
            case = self._case_number(int(step.group(1)), step.group(3), step.group(4))
            case_id = f"{vertex_id}c{case}"
            yield case_id if case is not None and case_id in self.vertices else vertex_id
            return
        node = re.match(r"spec\.nodes\[(\d+)\]", path)
        if node is not None:
            names = [n.name for i, n in self.view.nodes if i == int(node.group(1))]
            yield from (v.id for v in self.vertices.values() if names and v.node == names[0])
            return
        group = re.match(r"spec\.groups\[(\d+)\]", path)
        if group is not None:
            for cluster in clusters:
                if cluster.id == f"g{group.group(1)}":
                    yield from cluster.members[:1]

    def _case_number(self, step_index: int, which: str | None, case: str | None) -> int | None:
        if which is None:
            return None
        if case is not None:
            return int(case)
        steps = dict(self.view.steps)
        dispatch = steps[step_index].dispatch if step_index in steps else None
        return len(dispatch.cases) if dispatch is not None else None


def _guard_line(step: Step) -> str:
    """One line on how ``step`` survives failures, or "" for a plain (hard) step."""
    parts = []
    if step.optional:
        fallback = step.fallback
        if fallback is not None and fallback.call is not None:
            parts.append(f"optional, fallback {fallback.call}")
        elif fallback is not None and fallback.value is not None:
            parts.append(f"optional, fallback {json.dumps(fallback.value)[:24]}")
        else:
            parts.append("optional")
    if step.timeout_seconds is not None:
        parts.append(f"timeout {step.timeout_seconds:g} s")
    if step.retries is not None and step.retries.attempts > 1:
        parts.append(f"retries {step.retries.attempts - 1}")
    if step.quorum is not None:
        joined = {
            reference.source
            for _, text in iter_references([step.args, step.kwargs])
            if (reference := _reference(text)) is not None and reference.source != step.name
        }
        within = step.quorum.within_seconds
        parts.append(
            f"quorum {step.quorum.min} of {len(joined)}"
            + (f" within {within:g} s" if within is not None else "")
        )
    return "; ".join(parts)


def _reference(text: str) -> Reference | None:
    try:
        return parse_reference(text)
    except ValueError:
        return None


def _node_of(call: str) -> str | None:
    try:
        return parse_call(call).node
    except ValueError:
        return None


def _safe(name: str) -> str:
    """A node name as an identifier every format accepts (Mermaid ids take no '-')."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)
