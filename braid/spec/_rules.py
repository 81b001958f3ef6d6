"""The graph's rules: the checks that need more than one field at a time.

Each ``_check_*`` function looks at one concern (names, node settings, GPUs, calls, references,
cycles, the output) and returns problems; :func:`check_graph` runs them all. They work on a
:class:`GraphView`, which holds the nodes and steps that parsed, each with its index in the file,
so that the rules also run on a manifest whose other parts failed the schema.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from braid.spec._errors import Problem
from braid.spec._graphs import (
    IDENT_PATTERN,
    MAX_NAME_LENGTH,
    NODE_NAME_PATTERN,
    DeploymentGraph,
    GpuSharing,
    Node,
    Step,
    StepCall,
    TolerationOperator,
)
from braid.spec._references import (
    CALL_METHOD,
    ReferenceSyntaxError,
    iter_references,
    parse_call,
    parse_reference,
)

_NODE_NAME = re.compile(NODE_NAME_PATTERN)
_IDENT = re.compile(IDENT_PATTERN)
_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_ROUTE_PREFIX = re.compile(
    r"^/([A-Za-z0-9._~!$&'()*+,;=:@%-]+(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*)?$"
)
# Suffixes braid adds to the graph's name for the objects it renders ("-ingress" is longest).
_LONGEST_SUFFIX = len("-ingress")


@dataclass(frozen=True)
class GraphView:
    """What the graph pass needs, taken from a whole graph or from the parts that parsed."""

    name: str | None
    nodes: list[tuple[int, Node]]
    node_names: set[str]
    steps: list[tuple[int, Step]]
    step_names: set[str]
    flow_input: str | None
    output: str | None
    route_prefix: str | None
    #: False when some node or step failed the schema pass: rules that need them all are skipped.
    complete: bool = True
    #: False when spec.nodes (flow.steps) is not even a list: no name is known, so the rules do
    #: not report references to unknown nodes (steps), which would all be noise.
    nodes_known: bool = True
    steps_known: bool = True
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
        )


def check_graph(view: GraphView) -> list[Problem]:
    """Every problem of the graph, in the order of the file."""
    problems = _check_graph_name(view)
    problems += _check_node_names(view)
    for index, node in view.nodes:
        problems += _check_node(view, f"spec.nodes[{index}]", node)
    problems += _check_step_names(view)
    for index, step in view.steps:
        problems += _check_step(view, f"spec.flow.steps[{index}]", step)
    problems += _check_cycles(view)
    problems += _check_output(view)
    problems += _check_unused_nodes(view)
    problems += _check_route_prefix(view)
    return problems


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{matches[0]}"?)' if matches else ""


def _check_graph_name(view: GraphView) -> list[Problem]:
    if view.name is None:
        return []
    if not _NODE_NAME.match(view.name) or len(view.name) > MAX_NAME_LENGTH - _LONGEST_SUFFIX:
        return [
            Problem(
                "metadata.name",
                f'"{view.name}" is not a valid graph name: use lowercase letters, digits and '
                f"'-', start with a letter, at most {MAX_NAME_LENGTH - _LONGEST_SUFFIX} characters",
            )
        ]
    return []


def _check_node_names(view: GraphView) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for index, node in view.nodes:
        path = f"spec.nodes[{index}].name"
        too_long = len(node.name) > MAX_NAME_LENGTH
        if not _NODE_NAME.match(node.name) or too_long:
            problems.append(
                Problem(
                    path,
                    f'"{node.name}" is not a valid node name: use lowercase letters, digits and '
                    "'-', start with a letter and end with a letter or digit"
                    + (f", at most {MAX_NAME_LENGTH} characters" if too_long else "")
                    + " (a DNS-1123 label)",
                )
            )
        elif view.name and len(f"{view.name}-{node.name}") > MAX_NAME_LENGTH:
            problems.append(
                Problem(
                    path,
                    f'"{view.name}-{node.name}" (graph name and node name) is longer than '
                    f"{MAX_NAME_LENGTH} characters, too long for a Kubernetes Service name; "
                    "shorten the graph or the node name",
                )
            )
        if node.name in first_seen:
            problems.append(
                Problem(
                    path,
                    f'duplicate node name "{node.name}" '
                    f"(first at spec.nodes[{first_seen[node.name]}])",
                )
            )
        first_seen.setdefault(node.name, index)
    return problems


def _check_node(view: GraphView, path: str, node: Node) -> list[Problem]:
    problems: list[Problem] = []
    if (node.class_ is None) == (node.http is None):
        problems.append(
            Problem(
                path, 'set exactly one of "class" (Python code) and "http" (an HTTP model server)'
            )
        )
    if node.class_ is not None and not _IMPORT_PATH.match(node.class_):
        problems.append(
            Problem(
                f"{path}.class",
                f'"{node.class_}" is not an import path; write "module.sub:Attribute"',
            )
        )
    if node.replicas is not None and node.autoscaling is not None:
        problems.append(Problem(f"{path}.replicas", "set either replicas or autoscaling, not both"))
    if node.autoscaling and node.autoscaling.min_replicas > node.autoscaling.max_replicas:
        problems.append(
            Problem(
                f"{path}.autoscaling.minReplicas",
                f"minReplicas ({node.autoscaling.min_replicas}) is greater than maxReplicas "
                f"({node.autoscaling.max_replicas})",
            )
        )
    problems += _check_handles(view, path, node)
    problems += _check_env(path, node)
    problems += _check_tolerations(path, node)
    problems += _check_gpu(path, node)
    if node.http is not None:
        problems += _check_unique(
            f"{path}.http.methods", [m.name for m in node.http.methods], "method"
        )
    return problems


def _check_handles(view: GraphView, path: str, node: Node) -> list[Problem]:
    problems: list[Problem] = []
    if node.http is not None and node.handles:
        problems.append(Problem(f"{path}.handles", "an HTTP model server node cannot hold handles"))
    for index, target in enumerate(node.handles):
        where = f"{path}.handles[{index}]"
        if target not in view.node_names and view.nodes_known:
            problems.append(
                Problem(where, f'unknown node "{target}"{_did_you_mean(target, view.node_names)}')
            )
        elif target == node.name:
            problems.append(Problem(where, "a node cannot hold a handle to itself"))
    problems += _check_unique(f"{path}.handles", node.handles, "handle")
    kwargs = {target.replace("-", "_") for target in node.handles}
    for clash in sorted(kwargs & set(node.init)):
        problems.append(
            Problem(
                f"{path}.init.{clash}", f'"{clash}" is both a constructor argument and a handle'
            )
        )
    return problems


def _check_unique(path: str, names: list[str], what: str) -> list[Problem]:
    seen: set[str] = set()
    problems = []
    for index, name in enumerate(names):
        if name in seen:
            problems.append(Problem(f"{path}[{index}]", f'duplicate {what} "{name}"'))
        seen.add(name)
    return problems


def _check_env(path: str, node: Node) -> list[Problem]:
    problems = _check_unique(f"{path}.env", [var.name for var in node.env], "variable")
    for index, var in enumerate(node.env):
        if var.name.startswith("BRAID_"):
            problems.append(
                Problem(
                    f"{path}.env[{index}].name",
                    f'"{var.name}": names starting with BRAID_ are reserved for braid',
                )
            )
    return problems


def _check_tolerations(path: str, node: Node) -> list[Problem]:
    return [
        Problem(f"{path}.tolerations[{index}].value", 'must be empty when operator is "Exists"')
        for index, toleration in enumerate(node.tolerations)
        if toleration.operator is TolerationOperator.EXISTS and toleration.value
    ]


def _check_gpu(path: str, node: Node) -> list[Problem]:
    res, where = node.resources, f"{path}.resources"
    message = _gpu_problem(res.gpu, res.gpu_sharing, res.mig_profile)
    if message is None:
        return []
    if message.startswith("migProfile: "):
        return [Problem(f"{where}.migProfile", message.removeprefix("migProfile: "))]
    return [Problem(f"{where}.gpu", message)]


def _gpu_problem(  # noqa: PLR0911 - one early return per rule reads best
    gpu: float | None, sharing: GpuSharing | None, profile: str | None
) -> str | None:
    """What is wrong with a GPU request, or ``None``. A fraction is never rounded."""
    if gpu is None:
        return None if sharing is None and profile is None else "gpuSharing needs a gpu request"
    if gpu <= 0:
        return f"must be a positive number of GPUs, got {gpu:g}"
    if sharing is None:
        if gpu == int(gpu):
            return None
        return (
            f"{gpu:g} is a fraction of a GPU; request a whole number, or name how the GPU is "
            "shared with gpuSharing (timeSlicing, mps or mig; see docs/gpus.md)"
        )
    if gpu >= 1:
        return f"gpuSharing shares one GPU: request a fraction below 1, got {gpu:g}"
    if sharing is GpuSharing.MIG and not profile:
        return 'migProfile: gpuSharing "mig" needs a migProfile such as "1g.5gb"'
    if sharing is not GpuSharing.MIG and profile:
        return 'migProfile: applies only to gpuSharing "mig"'
    return None


def _check_step_names(view: GraphView) -> list[Problem]:
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


def _check_step(view: GraphView, path: str, step: Step) -> list[Problem]:
    if step.dispatch is None:
        if step.call is None:
            return [Problem(path, 'set "call" (one call) or "dispatch" (a choice of calls)')]
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
    problems += _check_unique(
        f"{path}.dispatch.cases", [case.when for case in step.dispatch.cases], "case"
    )
    for index, case in enumerate(step.dispatch.cases):
        problems += _check_call(view, f"{path}.dispatch.cases[{index}]", step.name, case)
    if step.dispatch.default is not None:
        problems += _check_call(view, f"{path}.dispatch.default", step.name, step.dispatch.default)
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
            Problem(path, f'unknown node "{node_name}"{_did_you_mean(node_name, view.node_names)}')
        ]
    node = view.nodes_by_name.get(node_name)
    if node is None:  # the node failed the schema pass; its own problems are reported there
        return []
    if node.http is not None:
        methods = [m.name for m in node.http.methods]
        if method not in methods:
            served = ", ".join(methods)
            if method == CALL_METHOD:
                message = f'HTTP node "{node_name}" has no method; call one of {served}'
            else:
                message = (
                    f'HTTP node "{node_name}" has no method "{method}"'
                    f"{_did_you_mean(method, methods)}; it serves {served}"
                )
            return [Problem(path, message)]
    elif method.startswith("_") and method != CALL_METHOD:
        return [Problem(path, f'"{method}" is private; a flow calls public methods only')]
    return []


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
            problems.append(Problem(where, f'step "{step_name}" refers to itself'))
        elif reference.source not in sources and view.steps_known:
            problems.append(
                Problem(
                    where,
                    f'unknown step "{reference.source}"{_did_you_mean(reference.source, sources)}',
                )
            )
    return problems


def step_dependencies(step: Step) -> set[str]:
    """Names of the steps and the input that ``step`` refers to."""
    values: list[object] = []
    if step.dispatch is not None:
        values.append(step.dispatch.value)
    for call in step.calls():
        values += [call.args, call.kwargs]
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


def _check_cycles(view: GraphView) -> list[Problem]:
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


def _check_output(view: GraphView) -> list[Problem]:
    if view.output is None:
        return []
    problems = _check_value_refs(view, "spec.flow.output", None, view.output, must_be_ref=True)
    if problems:
        return problems
    reference = parse_reference(view.output)
    if reference is None:  # pragma: no cover - must_be_ref rules this out
        return problems
    if not view.complete:
        return problems
    needed = _reachable({reference.source}, view)
    for index, step in view.steps:
        if step.name not in needed:
            problems.append(
                Problem(
                    f"spec.flow.steps[{index}]",
                    f'step "{step.name}" does not lead to the output {view.output}; '
                    "use its value or remove it",
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


def _check_unused_nodes(view: GraphView) -> list[Problem]:
    if not view.complete:
        return []
    used: set[str] = set()
    for _, step in view.steps:
        used.update(_called_node(call.call) for call in step.calls())
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


def _check_route_prefix(view: GraphView) -> list[Problem]:
    prefix = view.route_prefix
    if prefix is None or _ROUTE_PREFIX.match(prefix):
        return []
    return [
        Problem(
            "spec.ingress.http.routePrefix",
            f'"{prefix}" is not a route prefix: '
            'start with "/", no trailing "/", no spaces or query',
        )
    ]
