"""The rules of the flow: step names, calls, references, dispatch, cycles, the output, and the
nodes that no step uses.
"""

from __future__ import annotations

import json
import re

from braid.spec._errors import Problem
from braid.spec._graphs import (
    IDENT_PATTERN,
    MAX_NAME_LENGTH,
    NODE_NAME_PATTERN,
    Step,
    StepCall,
)
from braid.spec._inference import INFER_METHOD
from braid.spec._references import (
    CALL_METHOD,
    ReferenceSyntaxError,
    iter_references,
    parse_call,
    parse_reference,
)
from braid.spec._resilience_rules import check_resilience
from braid.spec._views import GraphView, check_unique, did_you_mean

_NODE_NAME = re.compile(NODE_NAME_PATTERN)
_IDENT = re.compile(IDENT_PATTERN)


def check_step_names(view: GraphView) -> list[Problem]:
    problems: list[Problem] = []
    if view.flow_input is not None and not _IDENT.match(view.flow_input):
        problems.append(
            Problem(
                "spec.flow.input",
                f'"{view.flow_input}" is not a valid name: use letters, digits, '
                "'_' and '-', starting with a letter or '_'",
            )
        )
    first_seen: dict[str, int] = {}
    for index, step in view.steps:
        path = f"spec.flow.steps[{index}].name"
        if not _IDENT.match(step.name):
            problems.append(
                Problem(
                    path,
                    f'"{step.name}" is not a valid step name: use letters, digits, '
                    "'_' and '-', starting with a letter or '_'",
                )
            )
        if step.name == view.flow_input:
            problems.append(Problem(path, f'"{step.name}" is already the name of the flow input'))
        if step.name in first_seen:
            problems.append(
                Problem(
                    path,
                    f'duplicate step name "{step.name}" '
                    f"(first at spec.flow.steps[{first_seen[step.name]}])",
                )
            )
        first_seen.setdefault(step.name, index)
    return problems


def check_step(view: GraphView, path: str, step: Step) -> list[Problem]:
    return (
        _check_step_call(view, path, step)
        + _check_model_id(view, path, step)
        + check_resilience(view, path, step)
    )


def _check_model_id(view: GraphView, path: str, step: Step) -> list[Problem]:
    """A step's modelId is for multiplexed nodes: every node it may call serves many models."""
    if step.model_id is None:
        return []
    problems: list[Problem] = []
    for call in step.calls():
        node = view.nodes_by_name.get(_called_node(call.call))
        if node is not None and node.multiplexing is None:
            problems.append(
                Problem(
                    f"{path}.modelId",
                    f'node "{node.name}" serves one model: a model id needs multiplexing on the '
                    "node (spec.nodes[].multiplexing)",
                )
            )
    return problems


def _check_step_call(view: GraphView, path: str, step: Step) -> list[Problem]:
    if step.graph is not None:
        return _check_subgraph_step(view, path, step)
    if step.split is not None:
        return _check_split(view, path, step)
    if step.dispatch is None:
        if step.call is None:
            return [
                Problem(
                    path,
                    'set "call" (one call), "dispatch" (a choice by value), "split" (a choice '
                    'by weight) or "graph" (a sub-graph)',
                )
            ]
        return _check_call(
            view, path, step.name, StepCall(call=step.call, args=step.args, kwargs=step.kwargs)
        )
    problems: list[Problem] = []
    if step.call is not None or step.args or step.kwargs:
        problems.append(
            Problem(
                path,
                "a dispatch step takes its calls from dispatch.cases; "
                'remove "call", "args" and "kwargs"',
            )
        )
    problems += _check_value_refs(
        view, f"{path}.dispatch.value", step.name, step.dispatch.value, must_be_ref=True
    )
    problems += check_unique(
        f"{path}.dispatch.cases", [case.when for case in step.dispatch.cases], "case"
    )
    for index, case in enumerate(step.dispatch.cases):
        problems += _check_call(view, f"{path}.dispatch.cases[{index}]", step.name, case)
    if step.dispatch.default is not None:
        problems += _check_call(view, f"{path}.dispatch.default", step.name, step.dispatch.default)
    return problems


def _check_subgraph_step(view: GraphView, path: str, step: Step) -> list[Problem]:
    """A step that calls another graph: its name, and arguments that make one input."""
    problems: list[Problem] = []
    if step.call is not None or step.dispatch is not None or step.split is not None:
        problems.append(
            Problem(
                path,
                'a step calls a node ("call"), dispatches ("dispatch" or "split") or calls a '
                'graph ("graph"): set only one of them',
            )
        )
    graph = step.graph or ""
    if not _NODE_NAME.match(graph) or len(graph) > MAX_NAME_LENGTH:
        problems.append(
            Problem(
                f"{path}.graph",
                f'"{graph}" is not a graph name: a DNS-1123 label of at most {MAX_NAME_LENGTH} '
                "characters that starts with a letter",
            )
        )
    elif graph == view.name:
        problems.append(
            Problem(f"{path}.graph", f'graph "{graph}" calls itself: the graphs form a cycle')
        )
    if len(step.args) > 1 or (step.args and step.kwargs):
        problems.append(
            Problem(
                path,
                "a sub-graph has one input: give it as the one item of args, or as the object "
                "of kwargs, not both",
            )
        )
    if step.model_id is not None:
        problems.append(
            Problem(
                f"{path}.modelId",
                "a sub-graph step takes no modelId: the request's model id carries through to "
                "the sub-graph",
            )
        )
    problems += _check_value_refs(view, f"{path}.args", step.name, step.args)
    problems += _check_value_refs(view, f"{path}.kwargs", step.name, step.kwargs)
    return problems


def _check_split(view: GraphView, path: str, step: Step) -> list[Problem]:
    """A split step: its calls come from split.cases; its key, if any, is a reference."""
    split = step.split
    if split is None:  # pragma: no cover - the caller checked
        return []
    problems: list[Problem] = []
    if step.call is not None or step.args or step.kwargs or step.dispatch is not None:
        problems.append(
            Problem(
                path,
                "a split step takes its calls from split.cases; "
                'remove "call", "args", "kwargs" and "dispatch"',
            )
        )
    if split.key is not None:
        problems += _check_value_refs(
            view, f"{path}.split.key", step.name, split.key, must_be_ref=True
        )
    for index, case in enumerate(split.cases):
        problems += _check_call(view, f"{path}.split.cases[{index}]", step.name, case)
    return problems


def _check_call(view: GraphView, path: str, step_name: str, call: StepCall) -> list[Problem]:
    problems: list[Problem] = []
    try:
        target = parse_call(call.call)
    except ValueError as exc:
        # A call of a node whose own name is invalid is reported once, at the node's name.
        named = _called_node(call.call)
        if named not in view.node_names or _NODE_NAME.match(named):
            problems.append(Problem(f"{path}.call", str(exc)))
    else:
        problems += _check_call_target(view, f"{path}.call", target.node, target.method)
    problems += _check_value_refs(view, f"{path}.args", step_name, call.args)
    problems += _check_value_refs(view, f"{path}.kwargs", step_name, call.kwargs)
    return problems


def _called_node(text: str) -> str:
    """The node a call names, even when the call is malformed (the text before the first dot)."""
    try:
        return parse_call(text).node
    except ValueError:
        return text.partition(".")[0]


def _check_call_target(view: GraphView, path: str, node_name: str, method: str) -> list[Problem]:
    if node_name not in view.node_names:
        if not view.nodes_known:
            return []
        return [
            Problem(path, f'unknown node "{node_name}"{did_you_mean(node_name, view.node_names)}')
        ]
    node = view.nodes_by_name.get(node_name)
    if node is None:  # the node failed the schema pass; its own problems are reported there
        return []
    problems = []
    if node.http is not None:
        methods = [m.name for m in node.http.methods]
        if method not in methods:
            served = ", ".join(methods)
            if method == CALL_METHOD:
                message = f'HTTP node "{node_name}" has no method; call one of {served}'
            else:
                message = (
                    f'HTTP node "{node_name}" has no method "{method}"'
                    f"{did_you_mean(method, methods)}; it serves {served}"
                )
            return [Problem(path, message)]
    elif node.inference is not None:
        if method not in (INFER_METHOD, CALL_METHOD):
            message = f'inference node "{node_name}" has no method "{method}"; call it as '
            problems.append(Problem(path, message + f"{node_name}.{INFER_METHOD}"))
    elif method.startswith("_") and method != CALL_METHOD:
        return [Problem(path, f'"{method}" is private; a flow calls public methods only')]
    return problems


def _check_value_refs(
    view: GraphView, path: str, step_name: str | None, value: object, *, must_be_ref: bool = False
) -> list[Problem]:
    if must_be_ref and not (
        isinstance(value, str) and value.startswith("$") and not value.startswith("$$")
    ):
        return [
            Problem(path, f'expected a reference such as "$step" or "$step.field", got "{value}"')
        ]
    problems: list[Problem] = []
    sources = view.step_names | ({view.flow_input} if view.flow_input else set())
    for where, text in iter_references(value, path):
        try:
            reference = parse_reference(text)
        except ReferenceSyntaxError as exc:
            problems.append(Problem(where, str(exc)))
            continue
        if reference is None:
            continue
        if reference.source == step_name:
            # A step named like the flow input is reported as such (check_step_names); its
            # references to the input are what the user meant, not a loop.
            if step_name != view.flow_input:
                problems.append(Problem(where, f'step "{step_name}" refers to itself'))
        elif reference.source not in sources and view.steps_known:
            problems.append(
                Problem(
                    where,
                    f'unknown step "{reference.source}"{did_you_mean(reference.source, sources)}',
                )
            )
    return problems


def step_dependencies(step: Step) -> set[str]:
    """Names of the steps and the input that ``step`` refers to."""
    values: list[object] = []
    if step.dispatch is not None:
        values.append(step.dispatch.value)
    if step.split is not None and step.split.key is not None:
        values.append(step.split.key)
    for call in step.calls():
        values += [call.args, call.kwargs]
    if step.graph is not None:
        values += [step.args, step.kwargs]
    found: set[str] = set()
    for value in values:
        for _, text in iter_references(value):
            try:
                reference = parse_reference(text)
            except ReferenceSyntaxError:
                continue
            if reference is not None:
                found.add(reference.source)
    return found


def check_cycles(view: GraphView) -> list[Problem]:
    # A reference to the input (even when a step takes its name) or to the step itself is
    # reported elsewhere; the edges hold only the other steps.
    others = view.step_names - {view.flow_input}
    edges = {step.name: step_dependencies(step) & (others - {step.name}) for _, step in view.steps}
    index_of = {step.name: index for index, step in view.steps}
    problems: list[Problem] = []
    reported: set[frozenset[str]] = set()
    for start in edges:
        cycle = _find_cycle(start, edges)
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            # The path follows dependencies (consumer to producer); show it as data flows.
            flowing = cycle[::-1][:-1]
            first = min(flowing, key=lambda name: index_of.get(name, 0))
            at = flowing.index(first)
            shown = [*flowing[at:], *flowing[:at], first]
            problems.append(
                Problem(
                    f"spec.flow.steps[{index_of[first]}]",
                    f"the flow has a cycle: {' -> '.join(shown)} (each step feeds the next)",
                )
            )
    return problems


def _find_cycle(start: str, edges: dict[str, set[str]]) -> list[str] | None:
    """A path ``start -> ... -> start`` through the dependency edges, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        current, path = stack.pop()
        for dependency in sorted(edges.get(current, ())):
            if dependency == start:
                return [*path, start]
            if dependency not in visited:
                visited.add(dependency)
                stack.append((dependency, [*path, dependency]))
    return None


def check_output(view: GraphView) -> list[Problem]:
    if view.output is None:
        return []
    problems = _check_output_shape(view)
    if problems:
        return problems
    sources = output_sources(view.output)
    if not view.complete or _refers_to_unknown_steps(view):
        return problems  # the unknown reference may be the one that meant such a step
    needed = _reachable(sources, view)
    for index, step in view.steps:
        if step.name not in needed:
            problems.append(
                Problem(
                    f"spec.flow.steps[{index}]",
                    f'step "{step.name}" does not lead to the output '
                    f"{_shown(view.output)}; use its value or remove it",
                )
            )
    return problems


def _check_output_shape(view: GraphView) -> list[Problem]:
    """The output is one reference, or a non-empty map or list whose leaves all are."""
    output, path = view.output, "spec.flow.output"
    if isinstance(output, str):
        return _check_value_refs(view, path, None, output, must_be_ref=True)
    if not isinstance(output, dict | list) or not output:
        return [
            Problem(
                path,
                'expected a reference such as "$step", or a map or list of references such as '
                f'{{"label": "$classify", "boxes": "$detect.boxes"}}, got {_shown(output)}',
            )
        ]
    problems: list[Problem] = []
    for where, leaf in _leaves(output, path):
        problems += _check_value_refs(view, where, None, leaf, must_be_ref=True)
    return problems


def _leaves(value: object, path: str) -> list[tuple[str, object]]:
    """The leaves of a map or list output, with their field paths."""
    if isinstance(value, dict):
        found: list[tuple[str, object]] = []
        for key, item in value.items():
            found += _leaves(item, f"{path}.{key}")
        return found
    if isinstance(value, list):
        found = []
        for index, item in enumerate(value):
            found += _leaves(item, f"{path}[{index}]")
        return found
    return [(path, value)]


def output_sources(output: object) -> set[str]:
    """The steps (and the input) that a well-formed output refers to."""
    found: set[str] = set()
    for _, text in iter_references(output):
        reference = parse_reference(text)
        if reference is not None:
            found.add(reference.source)
    return found


def _shown(output: object) -> str:
    return output if isinstance(output, str) else json.dumps(output, separators=(",", ":"))


def check_expose(view: GraphView) -> list[Problem]:
    """spec.flow.expose names steps, each once."""
    problems = check_unique("spec.flow.expose", view.expose, "step")
    if not view.steps_known:
        return problems
    for index, name in enumerate(view.expose):
        if name not in view.step_names:
            problems.append(
                Problem(
                    f"spec.flow.expose[{index}]",
                    f'unknown step "{name}"{did_you_mean(name, view.step_names)}',
                )
            )
    return problems


def _reachable(roots: set[str], view: GraphView) -> set[str]:
    by_name = {step.name: step for _, step in view.steps}
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in by_name:
            pending += step_dependencies(by_name[name])
    return seen


def _refers_to_unknown_steps(view: GraphView) -> bool:
    """Whether some step refers to a step (or input) that does not exist."""
    sources = view.step_names | ({view.flow_input} if view.flow_input else set())
    return any(step_dependencies(step) - sources for _, step in view.steps)


def check_unused_nodes(view: GraphView) -> list[Problem]:
    if not view.complete:
        return []
    used: set[str] = set()
    for _, step in view.steps:
        used.update(_called_node(call.call) for call in step.calls())
        if step.fallback is not None and step.fallback.call is not None:
            used.add(_called_node(step.fallback.call))
    if used - view.node_names:
        return []  # a call to an unknown node is reported; it may be the one that meant it
    for _, node in view.nodes:
        used.update(node.handles)
    return [
        Problem(
            f"spec.nodes[{index}]",
            f'node "{node.name}" is never called by the flow nor held as a handle',
        )
        for index, node in view.nodes
        if node.name not in used
    ]
