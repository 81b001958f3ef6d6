"""Settling a request: its first failure, explained, and the replies that report degradation.

- :meth:`Settling._finished` runs as each root step's task ends (and a structured output's): the
  first one to fail fails the request with the origin error (``origin_of``), located at its
  step and node (:meth:`Settling._locate`), and cancels every other call, unless a quorum join
  downstream may go on without that step (``FlowPlan.contained``);
- :meth:`Settling._explained` makes a deadline error say what the deadline was and how to
  raise it;
- :meth:`Settling._settle` waits, for a graph with guards or quorums, for the replies of the
  root steps that lead to the output, since they report the steps that degraded (decision
  0021; :meth:`~.states.RequestState._note` collects them).
"""

from __future__ import annotations

import asyncio
import logging

from braid.runtime._flow.states import RequestState, node_of
from braid.runtime._flow.subgraphs import DEADLINE_EXPLAINED
from braid.runtime._wire.errors import DeadlineExceeded, RequestError, StepTimedOut, origin_of

logger = logging.getLogger(__name__)


class Settling(RequestState):
    """How a request fails, and what it waits for before it answers."""

    async def _settle(self) -> None:
        """Wait (within the deadline) for the replies of the root steps that lead to the
        output other than through a quorum join: they report the steps that degraded."""
        pending = [
            task
            for name, task in self.roots.items()
            if name in self.plan.hard_path and not task.done() and not self._carries_contained(name)
        ]
        left = self.deadline - self.runner.clock()
        if pending and left > 0:
            await asyncio.wait(pending, timeout=left)

    def _carries_contained(self, root: str) -> bool:
        """Whether a continuation of ``root`` is a step a quorum join may go on without: its
        reply may never come before the deadline (the join reports it as missing)."""
        steps = list(self.dispatch.then.get(root, ()))
        while steps:
            name = steps.pop()
            if name in self.plan.contained:
                return True
            steps.extend(self.dispatch.then.get(name, ()))
        return False

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.failed:
            return
        exc = task.exception()
        if exc is None:
            return
        if not isinstance(exc, RequestError):
            logger.error("graph %s: internal error in the flow", self.plan.graph, exc_info=exc)
            exc = RequestError(f"internal error in the ingress: {type(exc).__name__}: {exc}")
        origin = origin_of(exc)
        if origin.step in self.plan.contained or task.get_name().rpartition("/")[2] in (
            self.plan.contained
        ):  # a quorum join downstream decides whether the request can do without it
            logger.debug("graph %s: %s (left to a quorum join)", self.plan.graph, origin.message)
            return
        self.failed = True
        if not self.done:
            self._locate(origin, task.get_name().rpartition("/")[2])
            self.events.put_nowait(("error", self._explained(origin)))
        self.cancel()

    def _locate(self, error: RequestError, root: str) -> None:
        """Name the step (and node) of an error that came without one: the step sent as
        ``root`` or, when a continuation of it runs on the error's node, that continuation."""
        steps, index = [root], 0
        while index < len(steps):
            steps.extend(self.dispatch.then.get(steps[index], ()))
            index += 1
        if not error.step:
            nodes = {name: node_of(self.plan.step(name)) for name in steps}
            error.step = next((n for n in steps if error.node and nodes[n] == error.node), root)
        if not error.node and error.step in {step.name for step in self.plan.steps}:
            error.node = node_of(self.plan.step(error.step))

    def _explained(self, error: RequestError) -> RequestError:
        """A deadline error says what the deadline was and how to raise it."""
        if (
            isinstance(error, DeadlineExceeded)
            and not isinstance(error, StepTimedOut)  # the step's own limit, not the request's
            and "requestTimeoutSeconds" not in error.message
        ):
            error.message = (
                f"{error.message}{DEADLINE_EXPLAINED}{self.budget:.3g} s passed; raise "
                "spec.ingress.requestTimeoutSeconds or send a longer X-Request-Timeout header "
                "(HTTP) or gRPC deadline (up to spec.ingress.maxRequestTimeoutSeconds)"
            )
            error.args = (error.message,)
        return error
