"""Building a manifest from a declared flow: walk it, name its nodes and steps, write the document.

The walk starts at the graph's output and visits what each step needs before the step itself,
so steps come out in the order data flows, and each node before the first step that calls it
(a node's handles before the node). Names come, in this order of preference, from:

- an explicit name: ``.options(name=...)`` on a node, ``.named(...)`` on a step;
- for a node held as a handle, the constructor argument it is passed as (braid passes handles
  under their node's names, so the two must agree);
- the variable that holds it where ``graph()`` was called (``adder = bind(Adder)`` names the
  node ``adder``, ``total = adder.add.bind(x)`` the step ``total``; ``_`` becomes ``-`` in node
  names);
- the class or function (``LanguageClassifier`` -> ``language-classifier``), or the method for a
  step (``add``),

and a derived name that is taken gets ``-2``, ``-3``... Explicit names are never changed: a
clash between them is reported by validation. The same source always builds the same manifest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from braid.authoring._errors import Origin, SourceProblem
from braid.authoring._nodes import MANIFEST_FIELDS, BoundNode
from braid.authoring._values import (
    Call,
    Dispatch,
    Input,
    Method,
    Split,
    Step,
    SubgraphCall,
    Value,
)
from braid.spec import CALL_METHOD, GROUP_VERSION, KIND, Problem

_NODE_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass
class Walk:
    """What the output depends on: steps and nodes in order, the input, and problems found."""

    steps: list[Step] = field(default_factory=list)
    nodes: list[BoundNode] = field(default_factory=list)
    inputs: list[Input] = field(default_factory=list)
    cases: list[Call] = field(default_factory=list)
    problems: list[SourceProblem] = field(default_factory=list)

    def visit_value(self, value: Any) -> None:
        if isinstance(value, Value):
            source = value._source
            if isinstance(source, Input):
                if not any(source is seen for seen in self.inputs):
                    self.inputs.append(source)
            else:
                self.visit_step(source)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self.visit_value(item)
        elif isinstance(value, Mapping):
            for item in value.values():
                self.visit_value(item)

    def visit_step(self, step: Step) -> None:
        if any(step is seen for seen in self.steps):
            return
        if isinstance(step, Dispatch):
            self.visit_value(step._value)
            for _, call in step._cases:
                self._visit_call(call)
                self.cases.append(call)
            if step._default is not None:
                self._visit_call(step._default)
                self.cases.append(step._default)
        elif isinstance(step, Split):
            if step._key is not None:
                self.visit_value(step._key)
            for _, call in step._cases:
                self._visit_call(call)
                self.cases.append(call)
        elif isinstance(step, Call):
            self._visit_call(step)
        elif isinstance(step, SubgraphCall):
            self.visit_value(step._args)
            self.visit_value(step._kwargs)
        fallback = step._guard.get("fallback", {}).get("call")
        if isinstance(fallback, Method) and isinstance(fallback._node, BoundNode):
            self.visit_node(fallback._node)  # a node only the fallback calls is a node too
        self.steps.append(step)

    def _visit_call(self, call: Call) -> None:
        self.visit_value(call._args)
        self.visit_value(call._kwargs)
        node = call._node
        if isinstance(node, BoundNode):
            self.visit_node(node)

    def visit_node(self, node: BoundNode) -> None:
        if any(node is seen for seen in self.nodes):
            return
        for handle in node._handles.values():
            self.visit_node(handle)
        self.nodes.append(node)


def kebab(name: str) -> str:
    """``LanguageClassifier`` -> ``language-classifier``; ``by_length`` -> ``by-length``."""
    return _CAMEL.sub("-", name).replace("_", "-").strip("-").lower()


class Namer:
    """Hands out unique names: fixed ones as they are, derived ones with a suffix when taken."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)

    def derived(self, base: str) -> str:
        name, number = base, 2
        while name in self.taken:
            name, number = f"{base}-{number}", number + 1
        self.taken.add(name)
        return name


def name_nodes(
    walk: Walk, variables: Mapping[int, str]
) -> tuple[dict[int, str], list[SourceProblem]]:
    """A name for every node of the walk (keyed by ``id``), and the handle clashes found."""
    problems: list[SourceProblem] = []
    fixed: dict[int, str] = {}
    required: dict[int, tuple[str, BoundNode]] = {}
    for holder in walk.nodes:
        for argument, handle in holder._handles.items():
            wanted = argument.replace("_", "-")
            if id(handle) in required and required[id(handle)][0] != argument:
                other = required[id(handle)][0]
                problems.append(_handle_problem(holder, argument, f'is also passed as "{other}"'))
                continue
            required[id(handle)] = (argument, holder)
            explicit = handle._options.get("name")
            if explicit is not None and str(explicit).replace("-", "_") != argument:
                as_argument = str(explicit).replace("-", "_")
                problems.append(
                    _handle_problem(
                        holder,
                        argument,
                        f'holds node "{explicit}": braid passes a handle under its node\'s name '
                        f"('-' becomes '_'), so name the argument \"{as_argument}\" "
                        f'or the node "{wanted}"',
                    )
                )
    for node in walk.nodes:
        explicit = node._options.get("name")
        if explicit is not None:
            fixed[id(node)] = str(explicit)
        elif id(node) in required:
            fixed[id(node)] = required[id(node)][0].replace("_", "-")
    namer = Namer(set(fixed.values()))
    names = dict(fixed)
    for node in walk.nodes:
        if id(node) in names:
            continue
        variable = kebab(variables.get(id(node), ""))
        base = variable if _NODE_NAME.match(variable) else kebab(node.describe())
        names[id(node)] = namer.derived(base if _NODE_NAME.match(base) else "node")
    return names, problems


def _handle_problem(holder: BoundNode, argument: str, what: str) -> SourceProblem:
    return SourceProblem(
        holder._origin, f'constructor argument "{argument}" of {holder.describe()}', "", what
    )


def name_steps(
    walk: Walk, variables: Mapping[int, str], node_names: Mapping[int, str], input_name: str
) -> dict[int, str]:
    """A name for every step of the walk (keyed by ``id``)."""
    fixed = {id(step): step._name for step in walk.steps if step._name is not None}
    namer = Namer({*fixed.values(), input_name})
    names = dict(fixed)
    for step in walk.steps:
        if id(step) in names:
            continue
        variable = variables.get(id(step), "")
        if _STEP_NAME.match(variable):
            base = variable
        elif isinstance(step, Call):
            base = node_names[id(step._node)] if step._method == CALL_METHOD else step._method
        elif isinstance(step, SubgraphCall):
            base = step._graph
        else:
            base = "split" if isinstance(step, Split) else "dispatch"
        names[id(step)] = namer.derived(base)
    return names


@dataclass
class Document:
    """Turns the walk into manifest data, given the names, and maps its paths back to sources."""

    walk: Walk
    node_names: Mapping[int, str]
    step_names: Mapping[int, str]
    input_name: str

    def reference(self, value: Value) -> str:
        source = value._source
        root = self.input_name if isinstance(source, Input) else self.step_names[id(source)]
        return "$" + ".".join((root, *value._path))

    def literal(self, value: Any) -> Any:
        """JSON with references: flow values become ``$...``, a literal ``$`` is escaped."""
        if isinstance(value, Value):
            return self.reference(value)
        if isinstance(value, str):
            return "$" + value if value.startswith("$") else value
        if isinstance(value, (list, tuple)):
            return [self.literal(item) for item in value]
        if isinstance(value, Mapping):
            return {key: self.literal(item) for key, item in value.items()}
        return value

    def call(self, call: Call) -> dict[str, Any]:
        node = self.node_names[id(call._node)]
        found: dict[str, Any] = {
            "call": node if call._method == CALL_METHOD else f"{node}.{call._method}"
        }
        if call._args:
            found["args"] = self.literal(call._args)
        if call._kwargs:
            found["kwargs"] = self.literal(call._kwargs)
        return found

    def step(self, step: Step) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.step_names[id(step)]}
        if isinstance(step, Dispatch):
            dispatch: dict[str, Any] = {
                "value": self.reference(step._value),
                "cases": [{"when": when, **self.call(call)} for when, call in step._cases],
            }
            if step._default is not None:
                dispatch["default"] = self.call(step._default)
            found["dispatch"] = dispatch
        elif isinstance(step, Split):
            split: dict[str, Any] = {}
            if step._key is not None:
                split["key"] = self.reference(step._key)
            if step._header is not None:
                split["header"] = step._header
            split["cases"] = [{"weight": weight, **self.call(call)} for weight, call in step._cases]
            found["split"] = split
        elif isinstance(step, Call):
            found.update(self.call(step))
        elif isinstance(step, SubgraphCall):
            found["graph"] = step._graph
            if step._args:
                found["args"] = self.literal(step._args)
            if step._kwargs:
                found["kwargs"] = self.literal(step._kwargs)
        for key, value in step._guard.items():
            found[key] = self.guard_field(key, value)
        return found

    def guard_field(self, key: str, value: Any) -> Any:
        """A failure-handling field as manifest data: a fallback call named ``node.method``."""
        call = value.get("call") if key == "fallback" else None
        if isinstance(call, Method):
            node = self.node_names[id(call._node)]
            return {"call": node if call._name == CALL_METHOD else f"{node}.{call._name}"}
        if key == "fallback" and "value" in value:
            return {"value": self.literal(value["value"])}
        return value

    def node(self, node: BoundNode) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.node_names[id(node)]}
        if node._inference is not None:
            found["inference"] = node._inference
        elif node._http is not None:
            found["http"] = node._http
        else:
            found["class"] = node._path
        for option, value in node._options.items():
            if option != "name" and value is not None:
                found[MANIFEST_FIELDS[option]] = option_value(option, value)
        if node._init:
            found["init"] = self.literal_init(node._init)
        if node._handles:
            found["handles"] = [self.node_names[id(handle)] for handle in node._handles.values()]
        return found

    @staticmethod
    def literal_init(init: Mapping[str, Any]) -> dict[str, Any]:
        return {key: _plain(value) for key, value in init.items()}

    def locate(self, problem: Problem, graph_origin: Origin | None, graph: str) -> SourceProblem:
        """The source line and the node or step a manifest problem belongs to."""
        found = re.match(r"^spec\.nodes\[(\d+)\]", problem.path)
        if found and int(found[1]) < len(self.walk.nodes):
            node = self.walk.nodes[int(found[1])]
            subject = f'node "{self.node_names[id(node)]}"'
            return SourceProblem(node._origin, subject, problem.path, problem.message)
        found = re.match(
            r"^spec\.flow\.steps\[(\d+)\](\.(?:dispatch|split)\.cases\[(\d+)\])?", problem.path
        )
        if found and int(found[1]) < len(self.walk.steps):
            step = self.walk.steps[int(found[1])]
            origin = step._origin
            if found[3] is not None and isinstance(step, Dispatch | Split):
                origin = step._cases[int(found[3])][1]._origin
            subject = f'step "{self.step_names[id(step)]}"'
            return SourceProblem(origin, subject, problem.path, problem.message)
        if problem.path == "spec.flow.input" and self.walk.inputs:
            source = self.walk.inputs[0]
            return SourceProblem(
                source._origin, f'input "{self.input_name}"', problem.path, problem.message
            )
        return SourceProblem(graph_origin, f'graph "{graph}"', problem.path, problem.message)


def option_value(option: str, value: Any) -> Any:
    """An option as manifest data: spec models dumped, ``env`` as a list of name and value."""
    if option == "env" and isinstance(value, Mapping):
        return [{"name": key, "value": item} for key, item in value.items()]
    return _plain(value)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # a braid.spec model, e.g. Resources(...)
        return dump(by_alias=True, exclude_defaults=True, mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def header(
    name: str,
    *,
    namespace: str | None,
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": GROUP_VERSION, "kind": KIND, "metadata": metadata}
