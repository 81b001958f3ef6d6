"""Sub-graph steps (``graph:``): the one kind of step the ingress runs itself.

The ingress fetches the step's inputs from their producers, calls the other graph
(:class:`~braid.runtime._flow.subgraphs.GraphCalls`), and keeps the output as a value of the
request: the steps that consume it wait for it and get it inline (``Upstream.value``), with the
field their reference names picked here.
"""

from __future__ import annotations

from typing import Any

from braid.runtime._flow.planning import CallPlan, StepPlan, pick_input
from braid.runtime._flow.states import RequestState, node_of
from braid.runtime._proto.braid_pb2 import Upstream
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import UserCodeError
from braid.spec import Reference, substitute


class SubgraphSteps(RequestState):
    """Running a request's sub-graph steps, and handing their outputs on."""

    async def _subgraph_step(self, step: StepPlan, call: CallPlan) -> None:
        """Run a sub-graph step here: gather its input, call the graph, keep its output."""
        found: dict[Reference, Any] = {}
        for reference in call.upstreams:
            if reference.source in self.values:
                found[reference] = picked(
                    reference, await self.values[reference.source], step=step.name
                )
                continue
            address = await self.addresses[reference.source]
            with self._noting_unreached(address):
                payload = await self.runner.client.fetch(
                    address,
                    f"{self.request_id}/{reference.source}",
                    reference.path,
                    deadline=self.deadline,
                    node=node_of(self.plan.step(reference.source)),
                )
            found[reference] = decode(payload)

        def resolve(reference: Reference) -> Any:
            if reference.source == self.plan.input:
                return pick_input(reference, self.input, step=step.name)
            return found[reference]

        args = substitute(list(call.args), resolve)
        kwargs = substitute(dict(call.kwargs), resolve)
        value = args[0] if args else (kwargs or None)
        output = await self.runner.graphs.call(
            call.node, value, step=step.name, deadline=self.deadline, model_id=self.model_id
        )
        self.values[step.name].set_result(output)
        if step.returns:
            self.output_node = call.node
            self.events.put_nowait(("value", encode(output)))

    def _inline(self, reference: Reference, consumer: str) -> Upstream:
        """The entry of a sub-graph step's output, sent inline to a step that consumes it."""
        value = picked(reference, self.values[reference.source].result(), step=consumer)
        return Upstream(key=f"{self.request_id}/{reference.source}", value=encode(value))


def picked(reference: Reference, value: Any, *, step: str) -> Any:
    """A field of a sub-graph step's output, for ``step``; the error names what is missing."""
    try:
        return reference.pick(value)
    except LookupError as exc:
        raise UserCodeError(
            f'step "{step}" needs {reference}, which the output of sub-graph step '
            f'"{reference.source}" does not have: {exc}',
            step=step,
        ) from exc
