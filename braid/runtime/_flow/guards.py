"""Planning partial failures: a step's guard and quorum for the wire, and who may fail quietly.

The ingress plans these once per graph, with the rest of the flow (docs/decisions/
0021-partial-failures.md):

- :func:`plan_guard`: a step's ``timeoutSeconds``, ``retries``, ``optional`` and ``fallback``
  as the ``FlowGuard`` its ``CallRequest`` carries to the sidecar that runs it, with whether
  the called method is idempotent (the node's ``methods[].idempotent``).
- :func:`plan_quorum`: a join's ``quorum`` as its ``FlowQuorum``.
- :func:`plan_containment`: the steps whose failure a quorum join absorbs (every path from them
  to the output passes through one), which the ingress must not treat as the request's failure,
  and the steps whose replies it waits for before answering, since they report what degraded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from braid.runtime._proto.braid_pb2 import FlowGuard, FlowQuorum
from braid.runtime._wire.codec import encode
from braid.spec import DeploymentGraph, Step, parse_call

#: The key of the upstream entry that a quorum join's sidecar fills with the missing steps'
#: names (``quorum.missingArgument``); it is never fetched.
MISSING_KEY = "$missing"


class _Planned(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def producers(self) -> frozenset[str]: ...

    @property
    def quorum(self) -> FlowQuorum | None: ...


def plan_guard(step: Step, graph: DeploymentGraph) -> FlowGuard | None:
    """The guard of ``step``, or ``None`` when it has no timeout, retries nor fallback."""
    if step.timeout_seconds is None and step.retries is None and not step.optional:
        return None
    guard = FlowGuard(timeout=step.timeout_seconds or 0.0, optional=bool(step.optional))
    retries = step.retries
    if retries is not None:
        guard.attempts = retries.attempts
        guard.backoff = retries.backoff_seconds
        guard.max_backoff = retries.max_backoff_seconds
        guard.retry_on.extend(str(on) for on in retries.retry_on)
        guard.budget = retries.budget_seconds or 0.0
        guard.idempotent = all(_idempotent(graph, call.call) for call in step.calls())
    fallback = step.fallback
    if fallback is not None:
        if fallback.call is not None:
            target = parse_call(fallback.call)
            guard.fallback_node, guard.fallback_method = target.node, target.method
        elif fallback.value is not None:
            guard.fallback_value.CopyFrom(encode(fallback.value))
    return guard


def _idempotent(graph: DeploymentGraph, call: str) -> bool:
    target = parse_call(call)
    for node in graph.spec.nodes:
        if node.name == target.node:
            return any(m.name == target.method and m.idempotent for m in node.methods)
    return False


def plan_quorum(step: Step) -> FlowQuorum | None:
    """The quorum of a join; its ``missing_index`` is set per call (see ``build_call``)."""
    quorum = step.quorum
    if quorum is None:
        return None
    return FlowQuorum(min=quorum.min, within=quorum.within_seconds or 0.0, missing_index=-1)


def plan_containment(
    steps: Iterable[_Planned], outputs: Iterable[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """``(contained, hard_path)``: the outputs' ancestors whose every path to an output crosses a
    quorum join, and those with a path that does not (the output steps included). A structured
    output has several output steps."""
    steps = list(steps)
    producers = {step.name: step.producers for step in steps}
    hard = {step.name: step.producers if step.quorum is None else frozenset() for step in steps}
    every: set[str] = set()
    hard_path: set[str] = set()
    for output in outputs:
        every |= _ancestors(output, producers)
        hard_path |= _ancestors(output, hard)
    return frozenset(every - hard_path), frozenset(hard_path)


def _ancestors(output: str, producers: Mapping[str, frozenset[str]]) -> set[str]:
    if output not in producers:
        return set()
    found, todo = {output}, [output]
    while todo:
        for producer in producers.get(todo.pop(), frozenset()):
            if producer in producers and producer not in found:
                found.add(producer)
                todo.append(producer)
    return found
