"""Planning a flow: the pure part of running a graph request, with no I/O.

:func:`plan_flow` turns a validated graph into a :class:`FlowPlan` once, when the ingress starts:
for every step its node and method (or its dispatch), the distinct upstream references of each of
its calls, how many fetches its stored result will serve (``consumers``), and whether the graph's
output comes from it. :func:`build_call` then makes the arguments of one call for one request:
references to the graph input are substituted inline (the path picked at the ingress), and every
reference to another step becomes an :class:`~braid.runtime._wire.codec.UpstreamMarker` with an
``Upstream`` entry that points at the producer's replica, so that the consumer's sidecar fetches
the value peer to peer. :func:`choose_case` picks a dispatch step's call from its value. A split
step is planned like a dispatch step, with its cases' weights (the choice is in
:mod:`braid.runtime._flow.splitting`); a structured output makes no step return its value and
counts the ingress as one more consumer of each step it names (:mod:`braid.runtime._flow.outputs`).

:func:`plan_dispatch` decides which steps travel as *continuations*: a plain step whose only
upstream step is a plain step P rides inside P's ``CallRequest.then``, and P's sidecar calls it
with P's result inline as soon as P is done, so a chain costs one hop a step with no fetches.
The ingress still picks every replica up front, so that other consumers can fetch from them.
The output step becomes a continuation only once its method is known not to stream.
A sub-graph step (``graph:``) is never a continuation nor a join's own producer: the ingress
runs it (``StepPlan.subgraph``) and hands its value inline to the steps that consume it.

A join works the other way round (``DispatchPlan.nested``): a producer that needs no other step
and feeds only the join rides inside the join's ``CallRequest`` (``Upstream.call``), and the
join's sidecar calls it and gets the value in the reply. A fan-out of N with its aggregator so
costs N + 1 calls, as a client calling N leaves and then the aggregator does, instead of N + 1
calls from the ingress plus N fetches.

Consumer counts are exact for plain steps. A producer that only some dispatch cases refer to is
counted for the case that refers to it most; when another case is chosen, the stored result is
left for the sidecar's expiry (see docs/architecture.md, "The life of a request").
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from braid.runtime._flow.guards import MISSING_KEY, plan_containment, plan_guard, plan_quorum
from braid.runtime._flow.outputs import first_reference, template_sources
from braid.runtime._proto.braid_pb2 import FlowGuard, FlowQuorum, Payload, Upstream
from braid.runtime._wire.codec import UpstreamMarker, encode
from braid.runtime._wire.errors import BadRequest, CodecError
from braid.runtime._wire.shared_memory import SharedMemory
from braid.spec import (
    DeploymentGraph,
    Reference,
    Step,
    StepCall,
    iter_references,
    parse_call,
    parse_reference,
    substitute,
)


@dataclass(frozen=True, slots=True)
class CallPlan:
    """One call a step may make: ``node.method`` with argument templates."""

    node: str
    method: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    #: Distinct references to other steps, in the order their ``Upstream`` entries are built.
    upstreams: tuple[Reference, ...]
    when: str | None = None
    #: A quorum join's keyword argument for the names of its missing upstream steps.
    missing_argument: str | None = None
    #: The encoded ``[args, kwargs]`` when they refer to no part of the graph input: the same
    #: for every request (its references to steps are markers), encoded once.
    fixed_args: bytes | None = None


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One step of a flow, ready to dispatch."""

    name: str
    #: The step's call; ``None`` for a dispatch step, whose call is chosen per request.
    call: CallPlan | None
    #: For a dispatch step: the value to switch on, its cases and its default.
    switch: Reference | None = None
    cases: tuple[CallPlan, ...] = ()
    default: CallPlan | None = None
    #: Fetches its stored result serves; 0 means nothing downstream reads it.
    consumers: int = 0
    #: Whether the graph's output is (a field of) this step's result.
    returns: bool = False
    #: Steps whose replica addresses this step needs before it can be sent.
    producers: frozenset[str] = frozenset()
    #: The step's own model id (``modelId``), over the request's, for multiplexed nodes.
    model_id: str = ""
    #: For a sub-graph step (``graph:``): the call of the other graph, whose ``node`` is the
    #: graph's name; the ingress runs it (``_flow/subgraphs.py``), never a sidecar.
    subgraph: CallPlan | None = None
    #: Its timeout, retries and fallback, for the sidecar that runs it (decision 0021).
    guard: FlowGuard | None = None
    #: A join's quorum over its upstream steps (decision 0021).
    quorum: FlowQuorum | None = None
    #: For a split step: the weight of each case (``switch`` is its key, if it has one).
    weights: tuple[int, ...] = ()
    #: For a split step keyed by a request header: the header's (lower-case) name.
    split_header: str = ""

    def calls(self) -> tuple[CallPlan, ...]:
        if self.subgraph is not None:
            return (self.subgraph,)
        if self.call is not None:
            return (self.call,)
        return self.cases + ((self.default,) if self.default is not None else ())


@dataclass(frozen=True, slots=True)
class FlowPlan:
    """A graph's flow, planned once and run for every request."""

    graph: str
    input: str
    steps: tuple[StepPlan, ...]
    output: Reference
    #: The co-location group of each grouped node (spec.groups): node -> group.
    groups: Mapping[str, str] = field(default_factory=dict)
    #: Nodes that serve many models (``multiplexing``): their calls carry a model id.
    multiplexed: frozenset[str] = frozenset()
    #: Partial failures (decision 0021): steps whose failure only a quorum join sees (every
    #: path from them to the output goes through one), and steps on a hard path to the output
    #: (not through a quorum join), whose replies the ingress waits for before it answers, for
    #: the degraded steps they report. Not ``expose`` (intermediate results).
    contained: frozenset[str] = frozenset()
    hard_path: frozenset[str] = frozenset()
    #: Some step has a guard or a quorum: the ingress collects degraded steps.
    guarded: bool = False
    #: A structured output (a map or list of references); ``None`` when it is one reference.
    template: Any = None
    #: The steps a structured output fetches, in order (see :mod:`braid.runtime._flow.outputs`).
    template_steps: tuple[str, ...] = ()
    #: Steps a request may ask for as intermediate results (``flow.expose``).
    expose: frozenset[str] = frozenset()
    #: Request headers that reach node code (``ingress.forwardHeaders``; ``x-*`` is a prefix).
    forward_headers: tuple[str, ...] = ()

    def step(self, name: str) -> StepPlan:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def output_step(self) -> StepPlan | None:
        """The step the output refers to; ``None`` when the output is the graph input itself."""
        for step in self.steps:
            if step.returns:
                return step
        return None


def plan_flow(graph: DeploymentGraph) -> FlowPlan:
    """Plan the flow of a validated graph (``load_graph`` has checked every reference)."""
    flow = graph.spec.flow
    step_names = {step.name for step in flow.steps}
    template: Any = None
    template_steps: tuple[str, ...] = ()
    if isinstance(flow.output, str):
        output = _reference(flow.output)
    else:  # structured: no step returns; the ingress fetches each step's result
        template, template_steps = flow.output, template_sources(flow.output, step_names)
        output = first_reference(flow.output)
    drafts = [_draft(step, step_names) for step in flow.steps]
    consumers: Counter[str] = Counter(template_steps)
    for draft in drafts:
        consumers.update(_consumed(draft, step_names))
    steps = tuple(
        StepPlan(
            name=draft.name,
            call=draft.call,
            cases=draft.cases,
            default=draft.default,
            consumers=consumers[draft.name],
            returns=template is None and draft.name == output.source,
            producers=frozenset(_consumed(draft, step_names)),
            model_id=step.model_id or "",
            subgraph=draft.subgraph,
            guard=plan_guard(step, graph),
            quorum=plan_quorum(step),
            weights=draft.weights,
            switch=draft.switch,
            split_header=draft.split_header,
        )
        for draft, step in zip(drafts, flow.steps, strict=True)
    )
    groups = {node: group.name for group in graph.spec.groups for node in group.nodes}
    multiplexed = frozenset(n.name for n in graph.spec.nodes if n.multiplexing is not None)
    contained, hard_path = plan_containment(steps, template_steps or (output.source,))
    return FlowPlan(
        graph=graph.metadata.name,
        input=flow.input,
        steps=steps,
        output=output,
        groups=groups,
        multiplexed=multiplexed,
        contained=contained,
        hard_path=hard_path,
        guarded=any(step.guard is not None or step.quorum is not None for step in steps),
        template=template,
        template_steps=template_steps,
        expose=frozenset(flow.expose),
        forward_headers=tuple(graph.spec.ingress.forward_headers),
    )


@dataclass(frozen=True, slots=True)
class DispatchPlan:
    """Who sends each step: the ingress (roots) or the sidecar of its only upstream step."""

    #: Steps the ingress sends itself, in flow order.
    roots: tuple[str, ...]
    #: Continuations: parent step -> the steps its sidecar sends once it is done.
    then: Mapping[str, tuple[str, ...]]
    #: Fetches each step's stored result serves (inline values of continuations excluded).
    consumers: Mapping[str, int]
    #: When the output is a continuation: its chain of steps from a root down to it.
    output_chain: tuple[str, ...] = ()
    #: Continuations whose node shares its parent's co-location group: step -> parent. They go
    #: to the parent's replica, whose process runs them in process (decision 0009).
    colocated: Mapping[str, str] = field(default_factory=dict)
    #: Fan-in: consumer step -> the producers its sidecar calls itself, each value coming back
    #: in the producer's reply (``Upstream.call``) instead of a call from the ingress plus a
    #: fetch. A producer qualifies when it needs no other step, feeds only this consumer, once,
    #: is not the output, and is not co-located with the consumer.
    nested: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def output_indices(self) -> tuple[int, ...]:
        """Positions in ``CallReply.then`` to follow from the root's reply to the output's."""
        chain = self.output_chain
        return tuple(self.then[parent].index(child) for parent, child in itertools.pairwise(chain))


def plan_dispatch(plan: FlowPlan, *, output_unary: bool) -> DispatchPlan:
    """Which steps ride as continuations; ``output_unary``: the output is known not to stream."""
    by_name = {step.name: step for step in plan.steps}
    parents: dict[str, str] = {}
    for step in plan.steps:
        if step.call is None or not step.call.upstreams or (step.returns and not output_unary):
            continue
        sources = {reference.source for reference in step.call.upstreams}
        if len(sources) == 1:
            (source,) = sources
            if by_name[source].call is not None:
                parents[step.name] = source
    then: dict[str, list[str]] = {}
    consumers = {step.name: step.consumers for step in plan.steps}
    for step in plan.steps:
        parent = parents.get(step.name)
        if parent is not None:
            then.setdefault(parent, []).append(step.name)
            call = step.call
            consumers[parent] -= len(call.upstreams) if call is not None else 0
    chain: list[str] = []
    output = plan.output_step
    if output is not None and output.name in parents:
        link: str | None = output.name
        while link is not None:
            chain.insert(0, link)
            link = parents.get(link)
    nested = _plan_nested(plan, parents, then)
    inner = {producer for producers in nested.values() for producer in producers}
    consumers.update(dict.fromkeys(inner, 0))  # their values return in replies: none stored
    colocated = {}
    for child, parent in parents.items():
        child_call, parent_call = by_name[child].call, by_name[parent].call
        if child_call is not None and parent_call is not None:
            group = plan.groups.get(child_call.node)
            if group is not None and plan.groups.get(parent_call.node) == group:
                colocated[child] = parent
    return DispatchPlan(
        colocated=colocated,
        nested=nested,
        roots=tuple(s.name for s in plan.steps if s.name not in parents and s.name not in inner),
        then={parent: tuple(children) for parent, children in then.items()},
        consumers=consumers,
        output_chain=tuple(chain),
    )


def _plan_nested(
    plan: FlowPlan, parents: Mapping[str, str], then: Mapping[str, list[str]]
) -> dict[str, tuple[str, ...]]:
    """The producers each join calls itself (see ``DispatchPlan.nested``)."""
    by_name = {step.name: step for step in plan.steps}
    nested: dict[str, tuple[str, ...]] = {}
    for step in plan.steps:
        call = step.call
        if call is None or step.name in parents:
            continue
        sources = dict.fromkeys(reference.source for reference in call.upstreams)
        if len(sources) < 2:  # one source: a continuation already, or a dispatch's input
            continue
        if any(by_name[source].subgraph is not None for source in sources):
            # The join waits for a sub-graph's output before it is sent: its other producers
            # go from the ingress at once instead, in parallel with the sub-graph.
            continue
        found = []
        for source in sources:
            producer = by_name[source]
            if (
                producer.call is not None
                and not producer.call.upstreams
                and not producer.returns
                and source not in plan.expose  # its result may be asked for: stored
                and producer.consumers == 1
                and source not in then
                and source not in parents
                and not _same_group(plan, producer.call.node, call.node)
            ):
                found.append(source)
        if found:
            nested[step.name] = tuple(found)
    return nested


def _same_group(plan: FlowPlan, first: str, second: str) -> bool:
    group = plan.groups.get(first)
    return group is not None and plan.groups.get(second) == group


def _draft(step: Step, step_names: set[str]) -> StepPlan:
    if step.graph is not None:
        call = StepCall(call=step.graph, args=step.args, kwargs=step.kwargs)
        return StepPlan(name=step.name, call=None, subgraph=_plan_call(call, step_names))
    if step.split is not None:
        split = step.split
        return StepPlan(
            name=step.name,
            call=None,
            switch=_reference(split.key) if split.key is not None else None,
            split_header=split.header or "",
            cases=tuple(_plan_call(case, step_names) for case in split.cases),
            weights=tuple(case.weight for case in split.cases),
        )
    if step.dispatch is None:
        call = StepCall(call=step.call or "", args=step.args, kwargs=step.kwargs)
        missing = step.quorum.missing_argument if step.quorum is not None else None
        return StepPlan(name=step.name, call=_plan_call(call, step_names, missing=missing))
    dispatch = step.dispatch
    return StepPlan(
        name=step.name,
        call=None,
        switch=_reference(dispatch.value),
        cases=tuple(_plan_call(case, step_names, when=case.when) for case in dispatch.cases),
        default=_plan_call(dispatch.default, step_names) if dispatch.default else None,
    )


def _plan_call(
    call: StepCall, step_names: set[str], when: str | None = None, missing: str | None = None
) -> CallPlan:
    target = parse_call(call.call)  # a sub-graph's name parses as a node's (method __call__)
    found: dict[Reference, None] = {}
    fixed = missing is None
    for _, text in iter_references([call.args, call.kwargs]):
        reference = parse_reference(text)
        if reference is not None and reference.source in step_names:
            found[reference] = None
        else:
            fixed = False  # the graph input (or a bad reference): picked per request
    upstreams = tuple(found)
    return CallPlan(
        node=target.node,
        method=target.method,
        args=tuple(call.args),
        kwargs=dict(call.kwargs),
        upstreams=upstreams,
        when=when,
        missing_argument=missing,
        fixed_args=_fixed_args(call, upstreams) if fixed else None,
    )


def _fixed_args(call: StepCall, upstreams: tuple[Reference, ...]) -> bytes | None:
    """The encoded ``[args, kwargs]`` of a call whose references are all to steps, or None
    when they cannot be encoded ahead (then each request reports why)."""
    index = {reference: position for position, reference in enumerate(upstreams)}

    def marker(reference: Reference) -> UpstreamMarker:
        return UpstreamMarker(index[reference])

    try:
        payload = encode(
            [substitute(list(call.args), marker), substitute(dict(call.kwargs), marker)]
        )
    except (CodecError, KeyError):
        return None
    return None if payload.buffers else bytes(payload.header)


def _consumed(step: StepPlan, step_names: set[str]) -> Counter[str]:
    """Fetches of each producer that ``step`` makes (the most over a dispatch's cases).

    A dispatch on the graph input picks it inline; a dispatch on a step fetches it once.
    """
    counts: Counter[str] = Counter()
    for call in step.calls():
        counts |= Counter(reference.source for reference in call.upstreams)
    if step.switch is not None and step.switch.source in step_names:
        counts[step.switch.source] += 1
    return counts


def _reference(text: str) -> Reference:
    reference = parse_reference(text)
    if reference is None:  # validation guarantees a reference; keep the error readable anyway
        raise ValueError(f'"{text}" is not a reference')
    return reference


def build_call(
    call: CallPlan,
    *,
    step: str,
    flow_input: str,
    input_value: Any,
    upstream: Callable[[Reference], Upstream],
    shared: SharedMemory | None = None,
) -> tuple[Payload, list[Upstream]]:
    """The encoded ``[args, kwargs]`` of one call, and its ``Upstream`` entries in marker order.

    ``upstream(reference)`` gives the entry for a reference to another step (its producer's
    address, result key and path). A reference to the graph input is replaced by the picked
    value; a path that does not exist in the input is a :class:`BadRequest` naming the step.
    """
    entries = [upstream(reference) for reference in call.upstreams]
    if call.fixed_args is not None:  # nothing from the graph input: encoded when planned
        return Payload(header=call.fixed_args), entries
    index = {reference: position for position, reference in enumerate(call.upstreams)}

    def resolve(reference: Reference) -> Any:
        if reference.source == flow_input:
            return pick_input(reference, input_value, step=step)
        return UpstreamMarker(index[reference])

    args = substitute(list(call.args), resolve)
    kwargs = substitute(dict(call.kwargs), resolve)
    if call.missing_argument is not None:  # filled in by the join's sidecar (quorum)
        kwargs[call.missing_argument] = UpstreamMarker(len(entries))
        entries.append(Upstream(key=MISSING_KEY))
    payload = encode([args, kwargs], shared=shared)  # large inputs go to shared memory once
    return payload, entries


def pick_input(reference: Reference, value: Any, *, step: str) -> Any:
    """Pick ``reference``'s path from the graph input; :class:`BadRequest` names what is missing."""
    try:
        return reference.pick(value)
    except LookupError as exc:
        raise BadRequest(f'step "{step}" needs {reference}: {exc}', step=step) from exc


def choose_case(step: StepPlan, value: Any) -> CallPlan:
    """The call a dispatch step makes for ``value``; :class:`BadRequest` when none matches."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    for case in step.cases:
        if case.when == text:
            return case
    if step.default is not None:
        return step.default
    choices = ", ".join(repr(case.when) for case in step.cases)
    raise BadRequest(
        f'dispatch step "{step.name}" has no case for {text[:200]!r} and no default; '
        f"expected one of {choices}",
        step=step.name,
    )
