"""What a graph request produces: its output value, or a stream of items, and its errors.

:class:`FlowResult` is what :class:`~braid.runtime._flow.running.FlowRunner` hands to the
ingress once the first output event of a request is known: a single :class:`Output`, or a
stream read with :meth:`FlowResult.items`. An :class:`Output` is a step's encoded result plus the
output's field path, which is picked only when someone needs the decoded value, so that a plain
JSON result can go out as its codec header without decoding.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from braid.runtime._proto.braid_pb2 import FlowDegraded, Payload
from braid.runtime._wire.codec import decode
from braid.runtime._wire.errors import UserCodeError
from braid.spec import Reference

Event = tuple[Literal["value", "item", "end", "error"], Any]


class RunState(Protocol):
    """The part of a running request that its result reads."""

    done: bool

    def output(self, payload: Payload) -> Output: ...

    async def next_event(self, *, item_taken: bool = False) -> Event: ...

    def cancel(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Output:
    """One output value (or stream item): the step's encoded result and the output path."""

    payload: Payload
    path: tuple[str, ...] = ()
    step: str = ""
    node: str = ""

    def value(self) -> Any:
        """The decoded value with the output path picked."""
        value = decode(self.payload)
        if not self.path:
            return value
        try:
            return Reference(self.step, self.path).pick(value)
        except LookupError as exc:
            raise UserCodeError(
                f"the graph output ${self.step}.{'.'.join(self.path)} does not exist in the "
                f'result of step "{self.step}": {exc}',
                node=self.node,
                step=self.step,
            ) from exc


class FlowResult:
    """The output of one request: a single value, or a stream of items read with :meth:`items`."""

    def __init__(self, run: RunState, first: Event) -> None:
        self._run = run
        self._first = first
        #: A stream, possibly empty (a generator that yielded nothing ends at once).
        self.streaming = first[0] in ("item", "end")
        #: Steps that answered with their fallback or were missing from a quorum join.
        self.degraded: tuple[FlowDegraded, ...] = ()
        #: Response headers that node code set (braid.request_context()), known so far.
        self.headers: dict[str, str] = {}
        #: The intermediate results the request asked for, by step (flow.expose).
        self.intermediates: dict[str, Any] | None = None

    @property
    def value(self) -> Output:
        """The single output value (for a request whose output does not stream)."""
        if self.streaming:
            raise TypeError("this output streams; read it with items()")
        return self._run.output(self._first[1])

    async def items(self) -> AsyncIterator[Output]:
        """The stream's items as they arrive; raises the request's error if it fails midway."""
        event = self._first
        try:
            while event[0] == "item":
                yield self._run.output(event[1])
                event = await self._run.next_event(item_taken=True)
            if event[0] == "error":
                raise event[1]
        finally:
            await self.close()

    async def close(self) -> None:
        """Cancel whatever of the request still runs, unless its output is complete."""
        if not self._run.done:
            self._run.cancel()
