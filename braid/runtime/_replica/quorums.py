"""A quorum join's inputs: go on once enough upstream steps succeeded, mark the rest missing.

A join with ``quorum`` (``CallRequest.quorum``) resolves its upstream values here instead of
failing at the first failed input. Each upstream entry belongs to one upstream step (several
entries may pick fields of the same step); a step succeeded when all its entries did.

- Without ``within``: go on as soon as ``min`` steps succeeded; the others are cancelled and
  missing.
- With ``within``: wait that long (from the join's start) for every step, then go on with those
  that succeeded, once at least ``min`` did.
- A step whose input failed (its error, or its own timeout) is missing too. When too few steps
  can still succeed, the join fails at once with :class:`QuorumNotReached`, naming them. The
  request's own deadline and a cancellation fail the join as usual.

Missing entries become ``None``; the sidecar also hands the missing steps' names to the
``missingArgument`` and reports them as degraded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from braid.runtime._proto.braid_pb2 import FlowQuorum, Upstream
from braid.runtime._wire.errors import (
    Cancelled,
    DeadlineExceeded,
    QuorumNotReached,
    RequestError,
    StepTimedOut,
    UpstreamFailed,
    origin_of,
)


@dataclass
class QuorumOutcome:
    """The entries that arrived, by upstream index, and the steps that are missing, each with
    what happened to it."""

    found: dict[int, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def source_of(upstream: Upstream) -> str:
    """The step an upstream entry comes from."""
    if upstream.HasField("call"):
        return upstream.call.step
    return upstream.key.rpartition("/")[2]


async def gather_quorum(
    work: Mapping[int, Awaitable[Any]],
    sources: Mapping[int, str],
    quorum: FlowQuorum,
    *,
    node: str,
    step: str,
) -> QuorumOutcome:
    """Resolve ``work`` (upstream index -> its value) under ``quorum``; see the module."""
    loop = asyncio.get_running_loop()
    tasks = {index: asyncio.ensure_future(item) for index, item in work.items()}
    steps: dict[str, list[int]] = {}
    for index in tasks:
        steps.setdefault(sources[index], []).append(index)
    until = loop.time() + quorum.within if quorum.within > 0 else None
    failed: dict[str, str] = {}
    try:
        while True:
            _note_failures(tasks, sources, failed)
            succeeded = [
                name
                for name, indices in steps.items()
                if name not in failed and all(tasks[i].done() for i in indices)
            ]
            if len(steps) - len(failed) < quorum.min:
                raise _not_reached(quorum, steps, failed, node=node, step=step)
            pending = [task for task in tasks.values() if not task.done()]
            waited = until is None or loop.time() >= until
            if not pending or (len(succeeded) >= quorum.min and waited):
                break
            timeout = None if waited or until is None else until - loop.time()
            await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks.values():
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    outcome = QuorumOutcome(missing=dict(failed))
    for name, indices in steps.items():
        if name in failed:
            continue
        if all(not tasks[i].cancelled() and tasks[i].exception() is None for i in indices):
            for index in indices:
                outcome.found[index] = tasks[index].result()
        else:
            outcome.missing[name] = "did not answer in time"
    return outcome


def _note_failures(
    tasks: Mapping[int, asyncio.Future[Any]], sources: Mapping[int, str], failed: dict[str, str]
) -> None:
    """Note the steps whose entries failed; raise a failure that ends the join as a whole."""
    for index, task in tasks.items():
        if task.done() and not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if _fatal(error):
                raise error  # type: ignore[misc]
            failed.setdefault(sources[index], _why(error))


def _fatal(error: BaseException | None) -> bool:
    """The request's deadline or a cancellation: the join fails as a whole."""
    if not isinstance(error, RequestError):
        return True
    origin = origin_of(error)
    if isinstance(origin, StepTimedOut):
        return False
    return isinstance(origin, DeadlineExceeded | Cancelled) and not isinstance(
        error, UpstreamFailed
    )


def _why(error: BaseException | None) -> str:
    if isinstance(error, RequestError):
        return f"failed: {origin_of(error).message}"
    return "failed"  # pragma: no cover - _fatal raised for anything else


def _not_reached(
    quorum: FlowQuorum,
    steps: Mapping[str, list[int]],
    failed: Mapping[str, str],
    *,
    node: str,
    step: str,
) -> QuorumNotReached:
    reasons = "; ".join(f'"{name}" {why}' for name, why in failed.items())
    return QuorumNotReached(
        f'step "{step}" (node "{node}") needs {quorum.min} of its {len(steps)} upstream steps '
        f"({', '.join(steps)}) and only {len(steps) - len(failed)} can still succeed: {reasons}",
        node=node,
        step=step,
    )
