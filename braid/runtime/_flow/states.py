"""One request's state, which every part of its run shares.

:class:`RequestState` holds what a request's run knows: the replica chosen for each step, the
values of sub-graph steps, the in-flight calls, the queue of output events that the ingress
reads, and what the replies reported (degraded steps, response headers). It also holds the
few things every part does with that state: note a reply, cancel, finish, and mark a replica
down when a call could not reach it. The parts of a run are mixins over it, put together as
:class:`~braid.runtime._flow.dispatching.Run`:

- :mod:`.dispatching`: sending the steps, and the consumer's side of the output events;
- :mod:`.outputting`: the output step's call (streamed or unary), structured outputs and
  intermediate results;
- :mod:`.settling`: the first failure and its explanation, and waiting for degraded reports;
- :mod:`.subgraph_steps`: the sub-graph steps the ingress runs itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import grpc

from braid.runtime._flow.headers import allowed_headers
from braid.runtime._flow.planning import StepPlan
from braid.runtime._flow.results import Event
from braid.runtime._proto.braid_pb2 import CallReply, FlowContext, FlowDegraded
from braid.runtime._wire.client import never_reached
from braid.runtime._wire.errors import ReplicaUnavailable

if TYPE_CHECKING:
    from braid.runtime._flow.running import FlowRunner

#: Stream items the runner reads ahead of the client; beyond them gRPC flow control holds the
#: producer back, so that a slow client never makes the ingress buffer a whole stream.
STREAM_WINDOW = 8


class RequestState:
    """The state of one request: chosen replicas, in-flight calls and the output's events."""

    def __init__(
        self,
        runner: FlowRunner,
        input_value: Any,
        deadline: float,
        *,
        allow_stream: bool,
        model_id: str = "",
        headers: Mapping[str, str],
        intermediates: tuple[str, ...] = (),
    ) -> None:
        self.runner = runner
        self.headers = headers
        self.intermediates = intermediates
        forwarded = allowed_headers(headers, runner.plan.forward_headers)
        self.context = FlowContext(headers=forwarded) if forwarded else None
        #: Response headers set by node code, from the replies that reached the ingress.
        self.response_headers: dict[str, str] = {}
        self.model_id = model_id
        self.plan = runner.plan
        self.input = input_value
        self.deadline = deadline
        #: The request's time budget in seconds, for the message of a deadline error.
        self.budget = deadline - runner.clock()
        self.allow_stream = allow_stream
        self.request_id = uuid.uuid4().hex
        self.dispatch = runner.dispatch_plan()
        self.addresses: dict[str, asyncio.Future[str]] = {}
        #: The outputs of sub-graph steps, decoded: their consumers get them inline.
        self.values: dict[str, asyncio.Future[Any]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.credit = asyncio.Semaphore(STREAM_WINDOW)
        self.failed = False
        self.done = False
        #: The failure was a replica that could not be reached at all (safe to retry).
        self.unreached = False
        self.output_node = ""
        #: Steps that answered with a fallback or were missing from a quorum (decision 0021).
        self.degraded: dict[str, FlowDegraded] = {}
        #: The task of each root step, to wait for the replies that report degraded steps.
        self.roots: dict[str, asyncio.Task[None]] = {}

    def _note(self, reply: CallReply) -> None:
        """Remember the degraded steps that ``reply`` and its continuations' replies name, and
        the response headers their code set."""
        for degraded in reply.degraded:
            self.degraded.setdefault(degraded.step, degraded)
        if reply.response_headers:
            self.response_headers.update(reply.response_headers)
        for follow in reply.then:
            self._note(follow)

    def cancel(self) -> None:
        self.done = True
        for task in self.tasks:
            task.cancel()
        for future in self.addresses.values():
            future.cancel()
        for value in self.values.values():
            value.cancel()

    def _finish(self) -> None:
        """The output is complete: let the remaining replies arrive in the background."""
        self.done = True
        for task in self.tasks:
            if not task.done():
                self.runner.keep(task)

    @contextlib.contextmanager
    def _noting_unreached(self, address: str) -> Iterator[None]:
        try:
            yield
        except ReplicaUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, grpc.aio.AioRpcError) and never_reached(cause):
                self.runner.client.router.mark_down(address)
                self.unreached = True
            raise


def guarded(step: StepPlan) -> bool:
    """Whether ``step``'s failure handling runs in its sidecar: its output is sent unary."""
    return step.guard is not None or step.quorum is not None


def node_of(step: StepPlan) -> str:
    return step.call.node if step.call is not None else ""
