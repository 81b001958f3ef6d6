"""A call's arguments as they arrived: decoded where the code runs, forwarded untouched otherwise.

The sidecar resolves a call's upstream values (fetched from producers, inline in a
continuation, or handed over in process by a co-located member) and then gives the executor an
:class:`Arguments`. Code hosted in this process decodes it (:meth:`Arguments.decode`); a worker
behind the pod's socket receives the encoded payload and the resolved upstream payloads exactly
as they arrived (:meth:`Arguments.forward`), so the sidecar never decodes and re-encodes a value
that it only passes on (docs/decisions/0012-bulk-payloads.md). Buffers that came through shared
memory are read only by the process that decodes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from braid.runtime._proto.braid_pb2 import Payload, Upstream
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import CodecError, RequestError
from braid.runtime._wire.shared_memory import SharedMemory, buffers_of


class Arguments:
    """``[args, kwargs]`` of one call, with its upstream values resolved but not decoded."""

    __slots__ = (
        "_payloads",
        "_reference",
        "_shared",
        "_values",
        "node",
        "payload",
        "step",
        "upstreams",
    )

    def __init__(
        self,
        payload: Payload,
        upstreams: Sequence[Upstream] = (),
        *,
        node: str = "",
        step: str = "",
        payloads: Mapping[int, Payload] | None = None,
        values: Mapping[int, Any] | None = None,
        reference: Callable[[int], Any] | None = None,
        shared: SharedMemory | None = None,
    ) -> None:
        self.payload = payload
        self.upstreams = upstreams
        self.node, self.step = node, step
        #: Upstream values by index: encoded (fetched, or inline in the request) ...
        self._payloads = dict(payloads or {})
        #: ... or as Python values (handed over in process by a co-located member).
        self._values = dict(values or {})
        self._reference = reference
        self._shared = shared

    def decode(self) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments; RequestError names the node and step."""
        try:
            values = dict(self._values)
            for index, payload in self._payloads.items():
                values[index] = decode(payload, buffers=buffers_of(payload, self._shared))
            decoded = decode(
                self.payload,
                upstream=values.__getitem__,
                reference=self._refer,
                buffers=buffers_of(self.payload, self._shared),
            )
            args, kwargs = decoded
        except (CodecError, ValueError, TypeError, KeyError, IndexError) as exc:
            raise RequestError(
                f'malformed arguments for node "{self.node}": {exc}', node=self.node, step=self.step
            ) from exc
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise RequestError(
                f'malformed arguments for node "{self.node}"', node=self.node, step=self.step
            )
        return args, kwargs

    def _refer(self, index: int) -> Any:
        if self._reference is None:
            raise CodecError("unexpected $ref marker in a payload")
        return self._reference(index)

    def forward(self) -> tuple[Payload, list[Upstream]]:
        """The payload as it arrived, and the upstreams with every resolved value inline; a
        response passed by reference stays a reference (the receiver fetches it itself)."""
        forwarded: list[Upstream] = []
        for index, upstream in enumerate(self.upstreams):
            if index in self._payloads:
                forwarded.append(Upstream(key=upstream.key, value=self._payloads[index]))
            elif index in self._values:
                value = encode(self._values[index])
                forwarded.append(Upstream(key=upstream.key, value=value))
            else:
                forwarded.append(upstream)
        return self.payload, forwarded


class EncodedResult:
    """A result that came back encoded (from a worker): sent on as it is, decoded only when
    this process needs the value itself (a field of it, a co-located consumer)."""

    __slots__ = ("_shared", "_value", "payload")

    def __init__(self, payload: Payload, shared: SharedMemory | None = None) -> None:
        self.payload = payload
        self._shared = shared
        self._value: Any = _UNSET

    def value(self) -> Any:
        if self._value is _UNSET:
            payload = self.payload  # read, not consumed: the sidecar still sends it on
            buffers = buffers_of(payload, self._shared, consume=False)
            self._value = decode(payload, buffers=buffers)
        return self._value


_UNSET: Any = object()


def plain(value: Any) -> Any:
    """``value``, decoded if it is an :class:`EncodedResult`."""
    return value.value() if isinstance(value, EncodedResult) else value
