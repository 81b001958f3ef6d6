"""Dispatching a request: a replica for every step, and every call sent at once.

:class:`Run` is one request's run, the mixins over :class:`~.states.RequestState` put
together (:mod:`.outputting`, :mod:`.settling`, :mod:`.subgraph_steps`). It picks a replica for
every step up front and starts every root step (:meth:`Run._dispatch`); each step
sends its ``CallRequest`` (:meth:`Run._request`) with its continuations nested in ``then``
and a join's own producers in their ``Upstream.call``. Only a dispatch or split step waits, for
the value it switches on or its key, before its case is chosen. The consumer's side
(:meth:`Run.first`, :meth:`Run.next_event`) reads the request's output events under the
deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from braid.runtime._flow.outputting import Outputting
from braid.runtime._flow.planning import CallPlan, StepPlan, build_call, choose_case, pick_input
from braid.runtime._flow.results import Event, FlowResult
from braid.runtime._flow.settling import Settling
from braid.runtime._flow.splitting import choose_split
from braid.runtime._flow.states import node_of
from braid.runtime._flow.subgraph_steps import SubgraphSteps, picked
from braid.runtime._proto.braid_pb2 import CallRequest, FlowQuorum, Upstream
from braid.runtime._wire.client import DEADLINE_MARGIN
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import (
    BadRequest,
    DeadlineExceeded,
    ReplicaUnavailable,
    RequestError,
)
from braid.spec import Reference


class Run(SubgraphSteps, Outputting, Settling):
    """One request's run: its steps sent, its output events read."""

    # -- the consumer's side ----------------------------------------------------------------

    async def first(self) -> FlowResult:
        try:
            await self._dispatch()
            event = await self.next_event()
        except BaseException:
            self.cancel()
            raise
        if event[0] == "error":
            self.cancel()
            raise event[1]
        if event[0] == "value":
            if self.plan.guarded:
                await self._settle()
            self._finish()
        result = FlowResult(self, event)
        result.degraded = tuple(self.degraded.values())
        result.headers = self.response_headers
        if self.intermediates:
            if result.streaming:
                self.cancel()
                raise BadRequest(
                    "intermediate results come with a single output, not a stream: read the "
                    "output with Invoke (gRPC) or without asking for intermediates"
                )
            result.intermediates = await self._intermediates()
        return result

    async def next_event(self, *, item_taken: bool = False) -> Event:
        if item_taken:
            self.credit.release()
        # The sidecars' own timers fire at the deadline and name the late step; this one, a
        # little later, is the backstop for a sidecar that cannot answer at all.
        left = self.deadline - self.runner.clock() + 2 * DEADLINE_MARGIN
        try:
            async with asyncio.timeout(max(left, 0.0)):
                event = await self.events.get()
        except TimeoutError:
            self.cancel()
            step = self.plan.output.source
            late = DeadlineExceeded(f'step "{step}" did not answer before the deadline', step=step)
            self._locate(late, step)
            late.node = self.output_node or late.node
            return ("error", self._explained(late))
        if event[0] in ("end", "error"):
            self._finish()
        return event

    # -- the calls ---------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        if self.plan.template is None and self.plan.output_step is None:  # the input itself
            value = pick_input(self.plan.output, self.input, step=self.plan.output.source)
            self.events.put_nowait(("value", encode(value)))
            return
        for step in self.plan.steps:
            self.addresses[step.name] = loop.create_future()
            if step.subgraph is not None:
                self.values[step.name] = loop.create_future()
        for step in self.plan.steps:
            if step.call is not None:
                await self._choose(step.name)
        for name in self.dispatch.roots:
            step = self.plan.step(name)
            task = asyncio.create_task(self._step(step), name=f"{self.request_id}/{step.name}")
            task.add_done_callback(self._finished)
            self.tasks.append(task)
            self.roots[name] = task
        if self.plan.template is not None:
            name = f"{self.request_id}/{self.plan.output.source}"
            task = asyncio.create_task(self._assemble(), name=name)
            task.add_done_callback(self._finished)
            self.tasks.append(task)

    async def _choose(self, name: str) -> str:
        """A step's replica; a co-located continuation goes where its parent runs."""
        future = self.addresses[name]
        if not future.done():
            parent = self.dispatch.colocated.get(name)
            call = self.plan.step(name).call
            if parent is not None and self.plan.step(parent).call is not None:
                address = await self._choose(parent)
            elif call is not None:
                address = await self._replica_of(call.node, name, self._model_of(name, call.node))
            else:
                return await future  # a dispatch step: chosen once its case is known
            if not future.done():
                future.set_result(address)
        return future.result()

    async def _step(self, step: StepPlan) -> None:
        if step.subgraph is not None:
            await self._subgraph_step(step, step.subgraph)
            return
        call = step.call
        if call is None:
            if step.weights:
                call = await self._split(step)
            else:
                call = choose_case(step, await self._switch_value(step))
            model_id = self._model_of(step.name, call.node)
            self.addresses[step.name].set_result(
                await self._replica_of(call.node, step.name, model_id)
            )
        address = self.addresses[step.name].result()
        producers = {}
        for ref in call.upstreams:
            if ref.source in self.values:  # a sub-graph's output: it goes inline
                await self.values[ref.source]
            else:
                producers[ref.source] = await self.addresses[ref.source]
        request = self._request(step, call, producers)
        client = self.runner.client
        with self._noting_unreached(address):
            if step.returns:
                self.output_node = call.node
                await self._output(request, address, call)
                return
            _, reply = await client.call(request, deadline=self.deadline, address=address)
        self._note(reply)
        chain = self.dispatch.output_chain
        if chain and chain[0] == step.name:  # the output rode along as a continuation
            for index in self.dispatch.output_indices():
                reply = reply.then[index]
            self.output_node = node_of(self.plan.step(chain[-1]))
            self.events.put_nowait(("value", reply.result))

    async def _split(self, step: StepPlan) -> CallPlan:
        """A split step's call: by the hash of its key (a header, or a value), else at random."""
        key: Any = None
        if step.split_header:
            key = self.headers.get(step.split_header)
        elif step.switch is not None:
            key = await self._switch_value(step)
        call = step.cases[choose_split(step.weights, key, self.runner.rng)]
        if self.runner.on_split is not None:
            self.runner.on_split(self.plan.graph, step.name, f"{call.node}.{call.method}")
        return call

    def _model_of(self, step: str, node: str) -> str:
        """The model a step's call is for: the step's ``modelId``, else the request's, for a
        multiplexed node; "" otherwise."""
        if node not in self.plan.multiplexed:
            return ""
        return self.plan.step(step).model_id or self.model_id

    async def _replica_of(self, node: str, step: str, model_id: str = "") -> str:
        """A replica of ``node`` for ``step``, waiting a while if none is ready; a replica
        in this process first, when it takes calls (``braid run --entry-in-ingress``)."""
        if not model_id and (local := self.runner.client.local_choice(node)) is not None:
            return local
        try:
            return await self.runner.client.router.wait_choose(
                node, deadline=self.deadline, model_id=model_id
            )
        except ReplicaUnavailable as exc:
            exc.step = exc.step or step
            raise

    def _request(
        self,
        step: StepPlan,
        call: CallPlan,
        producers: Mapping[str, str],
        *,
        continuation: bool = False,
        nested: bool = False,
    ) -> CallRequest:
        """The call of ``step``, with its continuations nested in ``then`` and the producers
        it calls itself (a join's, ``DispatchPlan.nested``) in their ``Upstream.call``.

        An upstream missing from ``producers`` is the parent of a continuation: its address
        stays empty and the parent's sidecar puts the value inline.
        """
        inner = self.dispatch.nested.get(step.name, ())

        def upstream(reference: Reference) -> Upstream:
            if reference.source in self.values:
                return self._inline(reference, step.name)
            entry = Upstream(
                address=producers.get(reference.source, ""),
                key=f"{self.request_id}/{reference.source}",
                path=list(reference.path),
            )
            if reference.source in inner:
                producer = self.plan.step(reference.source)
                if producer.call is not None:
                    entry.call.CopyFrom(self._request(producer, producer.call, {}, nested=True))
            return entry

        args, upstreams = build_call(
            call,
            step=step.name,
            flow_input=self.plan.input,
            input_value=self.input,
            upstream=upstream,
            shared=self.runner.client.shared,
        )
        consumers = self.dispatch.consumers[step.name]
        if step.name in self.intermediates:
            consumers += 1  # the ingress fetches it for this request
        then = []
        for name in self.dispatch.then.get(step.name, ()):
            child = self.plan.step(name)
            if child.call is not None:
                then.append(self._request(child, child.call, {}, continuation=True))
        guard, quorum = step.guard, step.quorum
        if quorum is not None and call.missing_argument is not None:
            quorum = FlowQuorum(
                min=quorum.min, within=quorum.within, missing_index=len(call.upstreams)
            )
        return CallRequest(
            guard=guard,
            quorum=quorum,
            request_id=self.request_id,
            graph=self.plan.graph,
            step=step.name,
            node=call.node,
            method=call.method,
            args=args,
            upstreams=upstreams,
            result_key=f"{self.request_id}/{step.name}" if consumers else "",
            consumers=consumers,
            return_result=step.returns or nested,
            caller="ingress",
            address=self.addresses[step.name].result() if continuation or nested else "",
            then=then,
            model_id=self._model_of(step.name, call.node),
            context=self.context,
        )

    async def _switch_value(self, step: StepPlan) -> Any:
        switch = step.switch
        if switch is None:  # pragma: no cover - a dispatch step always has a switch
            raise RequestError(f'step "{step.name}" has neither a call nor a dispatch')
        if switch.source == self.plan.input:
            return pick_input(switch, self.input, step=step.name)
        if switch.source in self.values:
            return picked(switch, await self.values[switch.source], step=step.name)
        address = await self.addresses[switch.source]
        with self._noting_unreached(address):
            payload = await self.runner.client.fetch(
                address,
                f"{self.request_id}/{switch.source}",
                switch.path,
                deadline=self.deadline,
                node=node_of(self.plan.step(switch.source)),
            )
        return decode(payload)
