"""The output of a request: its output step's call, a structured output, intermediates.

The output step is called with ``CallStream`` until its method is known: a first item marked
``final`` means "not a generator, this is the whole value", and the runner remembers per
``(node, method)`` that later requests may use the cheaper unary ``Call``. Items go to the
request's events at most ``STREAM_WINDOW`` ahead of the client. A structured output, and the
intermediate results a request asks for, are fetched by the ingress from the steps' sidecars
and assembled here (the templates themselves: :mod:`.outputs`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from braid.runtime._flow.outputs import assemble
from braid.runtime._flow.planning import CallPlan
from braid.runtime._flow.results import Output
from braid.runtime._flow.states import RequestState, guarded, node_of
from braid.runtime._proto.braid_pb2 import CallRequest, Payload
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import StreamingOutput, UserCodeError


class Outputting(RequestState):
    """The output events of a request: values, stream items, assembled outputs."""

    def output(self, payload: Payload) -> Output:
        if self.plan.template is not None:  # assembled here, every path picked already
            return Output(payload, (), self.plan.output.source)
        return Output(payload, self.plan.output.path, self.plan.output.source, self.output_node)

    async def _assemble(self) -> None:
        """A structured output: fetch each step it refers to, and fill in the template."""
        names = self.plan.template_steps
        fetched = await asyncio.gather(*(self._fetch_result(name) for name in names))
        values = dict(zip(names, fetched, strict=True))
        try:
            value = assemble(
                self.plan.template, values, flow_input=self.plan.input, input_value=self.input
            )
        except LookupError as exc:
            raise UserCodeError(f"the graph output: {exc}") from exc
        self.events.put_nowait(("value", encode(value)))

    async def _intermediates(self) -> dict[str, Any]:
        names = self.intermediates
        fetched = await asyncio.gather(*(self._fetch_result(name) for name in names))
        return dict(zip(names, fetched, strict=True))

    async def _fetch_result(self, name: str) -> Any:
        """A step's stored result (it counts the ingress among its consumers), or a sub-graph
        step's output, which the ingress holds itself."""
        if name in self.values:
            return await self.values[name]
        address = await self.addresses[name]
        with self._noting_unreached(address):
            payload = await self.runner.client.fetch(
                address,
                f"{self.request_id}/{name}",
                [],
                deadline=self.deadline,
                node=node_of(self.plan.step(name)),
            )
        return decode(payload)

    async def _output(self, request: CallRequest, address: str, call: CallPlan) -> None:
        client, key = self.runner.client, (call.node, call.method)
        known = self.runner.streams.get(key)
        if known and not self.allow_stream:
            raise _streaming_error(call)
        if known is False or guarded(self.plan.step(request.step)):
            _, reply = await client.call(request, deadline=self.deadline, address=address)
            self._note(reply)
            self.events.put_nowait(("value", reply.result))
            return
        stream = client.call_stream(request, deadline=self.deadline, address=address)
        try:
            first = True
            async for item in stream:
                for degraded in item.degraded:
                    self.degraded.setdefault(degraded.step, degraded)
                if first:
                    if item.response_headers:
                        self.response_headers.update(item.response_headers)
                    self.runner.streams[key] = not item.final
                    if item.final:
                        self.events.put_nowait(("value", item.item))
                        return
                    if not self.allow_stream:
                        raise _streaming_error(call)
                    first = False
                await self.credit.acquire()
                self.events.put_nowait(("item", item.item))
            if first:  # a generator that yielded nothing
                self.runner.streams[key] = True
                if not self.allow_stream:
                    raise _streaming_error(call)
            self.events.put_nowait(("end", None))
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


def _streaming_error(call: CallPlan) -> StreamingOutput:
    return StreamingOutput(
        f"the graph output comes from {call.node}.{call.method}, a generator: call it with "
        "InvokeStream (gRPC) or read it as a stream",
        node=call.node,
    )
