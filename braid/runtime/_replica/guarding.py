"""A step's own failure handling, where the step runs: timeout, retries, fallback.

The sidecar that runs a step with a ``CallRequest.guard`` (set by the ingress from the step's
``timeoutSeconds``, ``retries``, ``optional`` and ``fallback``) hands its attempt to
:class:`Guard`. The first attempt runs here; each retry goes to another replica of the node
when there is one (this replica otherwise), with the arguments already resolved and inline, so
that upstreams are never fetched twice. The result, whichever attempt made it, is stored and
passed on by this sidecar as usual, so consumers never see which replica answered.

- An attempt ends at the step's timeout (never past the request's deadline):
  :class:`StepTimedOut`.
- A failure is retried when its kind is in ``retry_on``, attempts remain, and the pause fits in
  the budget (``budget``, at most the request's deadline). A failure after which the node's code
  may have run (an exception, a timeout, a replica lost mid-call) is retried only for an
  idempotent method.
- When every attempt failed, an optional step's consumers get the fallback (a value, or a call
  of another node with the same arguments) and the reply names the step as degraded; a hard
  step fails with its last error. The request's deadline, a cancellation and a failed input
  are never retried nor replaced: the request is over, or its input is gone.

docs/decisions/0021-partial-failures.md has the reasons.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from braid.runtime._proto.braid_pb2 import CallRequest, FlowDegraded, FlowGuard, Payload, Upstream
from braid.runtime._replica.arguments import Arguments, EncodedResult
from braid.runtime._wire.client import ReplicaClient, never_reached
from braid.runtime._wire.errors import (
    Cancelled,
    DeadlineExceeded,
    Overloaded,
    ReplicaUnavailable,
    RequestError,
    StepTimedOut,
    UpstreamFailed,
    UserCodeError,
)
from braid.runtime._wire.shared_memory import SharedMemory

logger = logging.getLogger(__name__)

#: Seconds before the request's deadline from which a deadline error is the request's own (the
#: sidecar's timer fires at the deadline itself; the clock may read a hair earlier).
_DEADLINE_SLACK = 0.001

#: One attempt of the step on this replica, until the given deadline; returns its value.
Attempt = Callable[[float | None], Awaitable[Any]]


class Guard:
    """Runs one replica's guarded steps (see the module docstring)."""

    def __init__(
        self,
        *,
        node: str,
        address: str,
        client: ReplicaClient,
        shared: SharedMemory | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.node, self.address = node, address
        #: Called with the step's name before each retry (the sidecar counts them).
        self._on_retry = on_retry
        self._client, self._shared = client, shared
        self._clock, self._sleep = clock, sleep

    async def run(
        self,
        request: CallRequest,
        arguments: Arguments,
        deadline: float | None,
        attempt: Attempt,
    ) -> tuple[Any, FlowDegraded | None]:
        """The step's value (and, for a fallback, why it is degraded)."""
        guard = request.guard
        spare = self._spare(arguments) if guard.attempts > 1 or guard.fallback_node else None
        try:
            try:
                return await self._attempts(request, guard, spare, deadline, attempt), None
            except RequestError as error:
                if not guard.optional or _final(error, deadline, self._clock()):
                    raise
                value = await self._fallback(request, guard, spare, deadline, error)
                logger.info(
                    'step "%s" (node "%s") degraded to its fallback: %s',
                    request.step,
                    self.node,
                    error.message,
                )
                return value, FlowDegraded(
                    step=request.step, reason="fallback", message=error.message
                )
        finally:
            if spare is not None:
                self._release(spare)

    async def _attempts(
        self,
        request: CallRequest,
        guard: FlowGuard,
        spare: tuple[Payload, list[Upstream]] | None,
        deadline: float | None,
        attempt: Attempt,
    ) -> Any:
        until = _earliest(deadline, self._clock() + guard.budget if guard.budget else None)
        tried = [self.address]
        pause = guard.backoff
        for number in range(1, max(guard.attempts, 1) + 1):
            timeout = self._clock() + guard.timeout if guard.timeout else None
            ends = _earliest(until, timeout)
            try:
                if number == 1 or spare is None:
                    return await attempt(ends)
                return await self._elsewhere(request, spare, ends, tried)
            except RequestError as raised:
                by_budget = ends is not None and ends not in (timeout, deadline)
                error = self._timed_out(raised, request, guard, deadline, by_budget=by_budget)
                last = number >= guard.attempts
                if last or _final(error, deadline, self._clock()):
                    raise self._spent(error, number) from raised
                if not _retryable(error, guard):
                    raise error from raised
                if until is not None and self._clock() + pause >= until:
                    raise self._spent(error, number, budget=True) from raised
                logger.info(
                    'step "%s" (node "%s") attempt %d failed, retrying: %s',
                    request.step,
                    self.node,
                    number,
                    error.message,
                )
                await self._sleep(pause)
                if self._on_retry is not None:
                    self._on_retry(request.step)
                pause = min(pause * 2, guard.max_backoff or pause * 2)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def _elsewhere(
        self,
        request: CallRequest,
        spare: tuple[Payload, list[Upstream]],
        ends: float | None,
        tried: list[str],
    ) -> Any:
        """One attempt on another replica of this node (this one when it has no other)."""
        try:
            target = self._client.router.choose(self.node, exclude=tried)
        except ReplicaUnavailable:
            target = self.address
        tried.append(target)
        retry = self._copy(request, spare, node=self.node, method=request.method)
        _, reply = await self._client.call(retry, deadline=ends, address=target)
        return EncodedResult(reply.result, self._shared)

    async def _fallback(
        self,
        request: CallRequest,
        guard: FlowGuard,
        spare: tuple[Payload, list[Upstream]] | None,
        deadline: float | None,
        error: RequestError,
    ) -> Any:
        if not guard.fallback_node or spare is None:
            if guard.HasField("fallback_value"):
                return EncodedResult(guard.fallback_value, None)
            return None
        call = self._copy(request, spare, node=guard.fallback_node, method=guard.fallback_method)
        try:
            _, reply = await self._client.call(call, deadline=deadline)
        except RequestError as failed:
            failed.message = (
                f'step "{request.step}" failed ({error.message}) and so did its fallback '
                f"{guard.fallback_node}.{guard.fallback_method}: {failed.message}"
            )
            failed.args = (failed.message,)
            raise
        return EncodedResult(reply.result, self._shared)

    def _copy(
        self, request: CallRequest, spare: tuple[Payload, list[Upstream]], *, node: str, method: str
    ) -> CallRequest:
        """A call of ``node.method`` with the step's resolved arguments inline (copies of their
        shared-memory segments, since every receiver removes what it reads)."""
        payload, upstreams = spare
        return CallRequest(
            request_id=request.request_id,
            graph=request.graph,
            step=request.step,
            node=node,
            method=method,
            args=self._link(payload),
            upstreams=[
                Upstream(key=u.key, path=list(u.path), value=self._link(u.value))
                if u.HasField("value")
                else u
                for u in upstreams
            ],
            return_result=True,
            caller=self.node,
            model_id=request.model_id if node == request.node else "",
        )

    def _spare(self, arguments: Arguments) -> tuple[Payload, list[Upstream]]:
        """The arguments, resolved and inline, kept for later attempts and the fallback call."""
        payload, upstreams = arguments.forward()
        return self._link(payload), [
            Upstream(key=u.key, path=list(u.path), value=self._link(u.value))
            if u.HasField("value")
            else u
            for u in upstreams
        ]

    def _link(self, payload: Payload) -> Payload:
        if self._shared is None or not payload.shared:
            return payload
        return self._shared.link(payload)

    def _release(self, spare: tuple[Payload, list[Upstream]]) -> None:
        if self._shared is None:
            return
        payload, upstreams = spare
        for item in (payload, *(u.value for u in upstreams if u.HasField("value"))):
            if item.shared:
                self._shared.release_payload(item)

    def _timed_out(
        self,
        error: RequestError,
        request: CallRequest,
        guard: FlowGuard,
        deadline: float | None,
        *,
        by_budget: bool,
    ) -> RequestError:
        """A deadline error before the request's deadline is the step's own timeout, or the
        end of its retry budget."""
        if not isinstance(error, DeadlineExceeded) or isinstance(error, StepTimedOut):
            return error
        if _final(error, deadline, self._clock()):
            return error
        where = f'step "{request.step}" (node "{self.node}")'
        message = (
            f"{where} ran out of its retry budget ({guard.budget:g} s) in an attempt"
            if by_budget
            else f"{where} ran past its timeoutSeconds ({guard.timeout:g} s)"
        )
        return StepTimedOut(message, node=self.node, step=request.step)

    def _spent(self, error: RequestError, attempts: int, *, budget: bool = False) -> RequestError:
        if attempts > 1 or budget:
            why = "its retry budget ran out" if budget else "no attempt is left"
            error.message = f"{error.message} (after {attempts} attempts; {why})"
            error.args = (error.message,)
        return error


def _earliest(first: float | None, second: float | None) -> float | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def _final(error: RequestError, deadline: float | None, now: float) -> bool:
    """Failures no retry nor fallback can help: the request is over, or an input failed."""
    if isinstance(error, UpstreamFailed | Cancelled):
        return True
    if isinstance(error, DeadlineExceeded) and not isinstance(error, StepTimedOut):
        return deadline is not None and now >= deadline - _DEADLINE_SLACK
    return False


def _retryable(error: RequestError, guard: FlowGuard) -> bool:
    kind, reached = _kind(error)
    return kind in guard.retry_on and (guard.idempotent or not reached)


def _kind(error: RequestError) -> tuple[str, bool]:
    """The ``retryOn`` kind of ``error``, and whether the node's code may have run."""
    if isinstance(error, Overloaded):
        return "overloaded", False
    if isinstance(error, ReplicaUnavailable):
        cause = error.__cause__
        lost = isinstance(cause, grpc.aio.AioRpcError) and not never_reached(cause)
        return "unavailable", lost
    if isinstance(error, StepTimedOut):
        return "timeout", True
    if isinstance(error, UserCodeError):
        return "error", True
    return "", True
