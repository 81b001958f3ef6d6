"""The rules of soft steps, retries and quorum joins (:mod:`braid.spec._resilience`).

- ``fallback`` belongs to an ``optional`` step, and its call names a known node's public method.
- ``retries.retryOn`` with ``timeout`` or ``error`` (the node's code ran) needs every method the
  step may call to be declared ``idempotent``; ``timeout`` also needs ``timeoutSeconds``.
- a sub-graph step (``graph``) has none of them: it runs in the ingress, not in a sidecar.
- ``quorum`` belongs to a step with a call (not a dispatch) over at least two upstream steps,
  and ``min`` is at most their number; ``missingArgument`` must not clash with a keyword
  argument the step already passes.
"""

from __future__ import annotations

from braid.spec._errors import Problem
from braid.spec._graphs import Step
from braid.spec._references import (
    ReferenceSyntaxError,
    iter_references,
    parse_call,
    parse_reference,
)
from braid.spec._resilience import REACHES_CODE, RetryOn
from braid.spec._views import GraphView, did_you_mean


def check_resilience(view: GraphView, path: str, step: Step) -> list[Problem]:
    """The problems of one step's ``optional``, ``fallback``, ``retries`` and ``quorum``."""
    if step.graph is not None:
        return _check_subgraph_step(path, step)
    return (
        _check_fallback(view, path, step)
        + _check_retries(view, path, step)
        + _check_quorum(view, path, step)
    )


def _check_subgraph_step(path: str, step: Step) -> list[Problem]:
    """A sub-graph step runs in the ingress, not in a sidecar, so it has none of these (yet)."""
    given = {
        "optional": step.optional is not None,
        "fallback": step.fallback is not None,
        "timeoutSeconds": step.timeout_seconds is not None,
        "retries": step.retries is not None,
        "quorum": step.quorum is not None,
    }
    return [
        Problem(
            f"{path}.{field}",
            f'a sub-graph step ("graph") takes no {field}: give it to the steps inside the '
            "called graph, which run in sidecars",
        )
        for field, set_here in given.items()
        if set_here
    ]


def _check_fallback(view: GraphView, path: str, step: Step) -> list[Problem]:
    fallback = step.fallback
    if fallback is None:
        return []
    if not step.optional:
        return [Problem(f"{path}.fallback", "a fallback needs optional: true on the step")]
    if fallback.call is None:
        return []
    return _check_fallback_call(view, f"{path}.fallback.call", fallback.call)


def _check_fallback_call(view: GraphView, where: str, call: str) -> list[Problem]:
    try:
        target = parse_call(call)
    except ValueError as exc:
        return [Problem(where, str(exc))]
    if target.node not in view.node_names:
        if not view.nodes_known:
            return []
        hint = did_you_mean(target.node, view.node_names)
        return [Problem(where, f'unknown node "{target.node}"{hint}')]
    if target.method.startswith("_") and target.method != "__call__":
        return [Problem(where, f'"{target.method}" is private; a flow calls public methods only')]
    return []


def _check_retries(view: GraphView, path: str, step: Step) -> list[Problem]:
    retries = step.retries
    if retries is None:
        return []
    problems: list[Problem] = []
    if RetryOn.TIMEOUT in retries.retry_on and step.timeout_seconds is None:
        problems.append(
            Problem(
                f"{path}.retries.retryOn",
                "retrying on \"timeout\" needs the step's timeoutSeconds (the request's "
                "deadline is never retried)",
            )
        )
    risky = sorted(str(on) for on in set(retries.retry_on) & REACHES_CODE)
    if not risky:
        return problems
    for call in step.calls():
        try:
            target = parse_call(call.call)
        except ValueError:
            continue  # reported by the call's own rule
        node = view.nodes_by_name.get(target.node)
        if node is None:
            continue
        idempotent = {method.name for method in node.methods if method.idempotent}
        if target.method not in idempotent:
            problems.append(
                Problem(
                    f"{path}.retries.retryOn",
                    f"retrying on {' and '.join(risky)} runs {target.node}.{target.method} "
                    f"again after its code ran: declare it idempotent (spec.nodes[].methods: "
                    f"[{{name: {target.method}, idempotent: true}}]) or retry only on "
                    "unavailable and overloaded",
                )
            )
    return problems


def _check_quorum(view: GraphView, path: str, step: Step) -> list[Problem]:
    quorum = step.quorum
    if quorum is None:
        return []
    where = f"{path}.quorum"
    if step.dispatch is not None or step.call is None:
        return [Problem(where, "a quorum belongs to a step with a call, not a dispatch")]
    sources = _upstream_steps(view, step)
    if len(sources) < 2:
        return [
            Problem(
                where,
                f"a quorum joins at least two upstream steps; this step refers to {len(sources)}",
            )
        ]
    problems: list[Problem] = []
    if quorum.min > len(sources):
        problems.append(
            Problem(
                f"{where}.min",
                f"{quorum.min} is more than the {len(sources)} upstream steps this step joins "
                f"({', '.join(sources)})",
            )
        )
    name = quorum.missing_argument
    if name is not None and name in step.kwargs:
        problems.append(
            Problem(
                f"{where}.missingArgument",
                f'the step already passes the keyword argument "{name}"; pick another name',
            )
        )
    return problems


def _upstream_steps(view: GraphView, step: Step) -> list[str]:
    """The distinct steps (not the flow input) that ``step``'s call refers to, in order."""
    found: dict[str, None] = {}
    for _, text in iter_references([step.args, step.kwargs]):
        try:
            reference = parse_reference(text)
        except ReferenceSyntaxError:
            continue
        if reference is not None and reference.source in view.step_names:
            found[reference.source] = None
    return list(found)
