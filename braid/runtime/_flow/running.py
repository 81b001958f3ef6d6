"""Running a flow: one graph request driven across the sidecars, from the ingress.

For each request the :class:`FlowRunner` picks a replica for every step up front and sends
every root step's ``CallRequest`` at once (continuations ride inside their producer's call,
and a join's own producers inside the join's), without waiting for inputs: a step's
references to other steps travel as ``Upstream`` entries that name the producer's replica,
and the consumer's sidecar fetches the value from the producer's sidecar itself (or calls a
join's own producer and takes the value from its reply), so that intermediate values never pass
through the ingress. Only a dispatch step waits, for the value it switches on (fetched from its
producer, which counts as one of that producer's consumers), and the steps that consume a
dispatch step wait for its replica to be chosen. A split step waits for its key the same way
(a request header needs no wait). A structured output, and the intermediate results a request
asks for, are fetched by the ingress from the steps' sidecars and assembled here. The request
headers that the graph forwards ride in every call's ``context``, and the response headers
that node code set come back in the replies, gathered for the ingress to send.

The output step is called with ``CallStream`` until its method is known: a first item marked
``final`` means "not a generator, this is the whole value", and the runner remembers per
``(node, method)`` that later requests may use the cheaper unary ``Call``.

A sub-graph step (``graph:``) is the one step the ingress runs itself: it fetches the step's
inputs, calls the other graph (``_flow/subgraphs.py``), and sends the output inline
(``Upstream.value``) to the steps that consume it, which wait for it.

Failures: the first failing call fails the request with the origin error (``origin_of``) and
cancels every other call of the request; a deadline bounds everything. When a step's replica
could not even be reached (connection refused), the replica is marked down and the whole request
is tried once more on other replicas; a call that reached a replica is never retried.

This module holds :class:`FlowRunner`, which starts each request's run and tries it again once.
A request's run is a :class:`~braid.runtime._flow.dispatching.Run`, in parts:

- :mod:`.states`: the request's state, which every part shares;
- :mod:`.dispatching`: the run itself, sending the steps and reading the output's events;
- :mod:`.outputting`: the output step's call, structured outputs and intermediates;
- :mod:`.settling`: the first failure and its explanation, and the degraded steps' reports;
- :mod:`.subgraph_steps`: sub-graph steps, run at the ingress.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from braid.runtime._flow.dispatching import Run
from braid.runtime._flow.outputs import check_intermediates
from braid.runtime._flow.planning import DispatchPlan, FlowPlan, plan_dispatch
from braid.runtime._flow.results import FlowResult
from braid.runtime._flow.states import guarded
from braid.runtime._flow.subgraphs import GraphCalls
from braid.runtime._wire.client import ReplicaClient
from braid.runtime._wire.errors import RequestError

logger = logging.getLogger(__name__)

#: Notes a split's choice: (graph, step, the chosen call as "node.method").
SplitObserver = Callable[[str, str, str], None]


class FlowRunner:
    """Runs requests of one graph across the sidecars of its nodes."""

    def __init__(
        self,
        plan: FlowPlan,
        client: ReplicaClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        graphs: GraphCalls | None = None,
        on_split: SplitObserver | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.clock = clock
        #: Where sub-graph steps (``graph:``) call their graphs.
        self.graphs = graphs or GraphCalls(clock=clock)
        self.on_split = on_split
        #: Draws for splits without a key (a request's key hashes, never draws).
        self.rng = rng or random.Random()  # noqa: S311 - traffic shares, not secrets
        #: Whether a (node, method) is a generator, learnt from its first reply.
        self.streams: dict[tuple[str, str], bool] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Continuations, before and after the output is known not to stream.
        self._dispatch_plans = {
            unary: plan_dispatch(plan, output_unary=unary) for unary in (False, True)
        }

    def dispatch_plan(self) -> DispatchPlan:
        """How to send this request's steps, given what is known about the output's method."""
        output = self.plan.output_step
        unary = (
            output is not None
            and output.call is not None
            and (
                self.streams.get((output.call.node, output.call.method)) is False or guarded(output)
            )
        )
        return self._dispatch_plans[unary]

    async def start(
        self,
        input_value: Any,
        *,
        deadline: float,
        allow_stream: bool = True,
        model_id: str = "",
        headers: Mapping[str, str] | None = None,
        intermediates: Sequence[str] = (),
    ) -> FlowResult:
        """Dispatch a request and return once its output (or first stream item) is known;
        ``model_id``: the request's model, for the steps calling multiplexed nodes;
        ``headers``: the request's headers (lower-case names), for splits keyed by a header
        and for node code (those in ``forwardHeaders``); ``intermediates``: exposed steps whose
        results to return beside the output."""
        check_intermediates(intermediates, self.plan.expose, self.plan.graph)
        for attempt in range(2):
            run = Run(
                self,
                input_value,
                deadline,
                allow_stream=allow_stream,
                model_id=model_id,
                headers=headers or {},
                intermediates=tuple(intermediates),
            )
            try:
                return await run.first()
            except RequestError:
                if attempt == 0 and run.unreached and self.clock() < deadline:
                    logger.info("graph %s: a replica was unreachable; retrying", self.plan.graph)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def keep(self, task: asyncio.Task[None]) -> None:
        """Let a request's remaining calls finish in the background after its output is sent."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.graphs.close()
