"""The request context that node code reads: ``braid.request_context()``.

Inside a call of a node's method (async, or sync in one of the node's threads) the context
says which request is being served: its id (the same on every hop), the seconds left before
its deadline, and the request headers that the graph lets through
(``spec.ingress.forwardHeaders``; every other header stays at the ingress). The code may also
set response headers, which go back to the client with the graph's answer: as HTTP headers,
or as gRPC trailing metadata. Handle calls carry the context onward, and the headers their
callees set join the caller's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from types import MappingProxyType

from braid.runtime._replica.handles import CallContext, current_call

#: Response headers node code may not set: framing, hop-by-hop, and braid's and gRPC's own.
_RESERVED = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "keep-alive",
        "retry-after",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_RESERVED_PREFIXES = ("grpc-", "braid-", ":")
_TOKEN = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
#: Printable ASCII and tabs: what every HTTP stack and gRPC's ASCII metadata accept.
_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
#: Longest response header value a node may set, so that headers stay headers.
MAX_VALUE_LENGTH = 8192


class RequestContext:
    """The request a node's method is serving (see the module docstring)."""

    __slots__ = ("_context",)

    def __init__(self, context: CallContext) -> None:
        self._context = context

    @property
    def request_id(self) -> str:
        """The request's id, the same on every node it reaches (for logs and tracing)."""
        return self._context.request_id

    @property
    def step(self) -> str:
        """The flow step being run ("" for a handle call)."""
        return self._context.step

    @property
    def model_id(self) -> str:
        """The model the call is for, on a multiplexed node ("" otherwise)."""
        return self._context.model_id

    @property
    def headers(self) -> Mapping[str, str]:
        """The request headers the graph lets through, by lower-case name (read-only)."""
        return MappingProxyType(dict(self._context.headers))

    @property
    def deadline_remaining(self) -> float | None:
        """Seconds left before the request's deadline (0.0 once it passed; None: no deadline)."""
        deadline = self._context.deadline
        if deadline is None:
            return None
        return max(deadline - time.monotonic(), 0.0)

    def set_response_header(self, name: str, value: str) -> None:
        """Send ``name: value`` back to the client with the graph's answer (HTTP header, or
        gRPC trailing metadata). A later call with the same name wins.

        Raises :class:`ValueError` for a name braid or the protocol owns (``content-type``,
        ``grpc-*``, ``braid-*``, ...) or a value that is not printable ASCII.
        """
        problem = response_header_problem(name, value)
        if problem is not None:
            raise ValueError(f"set_response_header: {problem}")
        self._context.response_headers[name.lower()] = value

    def __repr__(self) -> str:
        return f"<braid request {self.request_id} step={self.step!r}>"


def request_context() -> RequestContext:
    """The context of the request that the calling node code is serving.

    Raises :class:`LookupError` outside a call of a node's method (in a constructor, say).
    """
    context = current_call.get()
    if context is None or not context.request_id:
        raise LookupError(
            "request_context(): no request is being served here; call it inside a node's "
            "method (not in the constructor, reconfigure() or a batched method)"
        )
    return RequestContext(context)


def response_header_problem(name: str, value: str) -> str | None:
    """Why node code may not set this response header, or ``None`` when it may."""
    lower = name.lower()
    if not _TOKEN.match(lower):
        return f"{name[:64]!r} is not a header name (use letters, digits and '-')"
    if lower in _RESERVED or lower.startswith(_RESERVED_PREFIXES) or lower.endswith("-bin"):
        return f'"{lower}" is set by braid or the protocol; choose another name'
    if len(value) > MAX_VALUE_LENGTH or not _VALUE.match(value):
        return f'the value of "{lower}" must be printable ASCII of at most {MAX_VALUE_LENGTH} chars'
    return None
