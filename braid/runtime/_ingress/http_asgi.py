"""The ASGI side of the ingress's HTTP: a request in, a :class:`Responder` out.

:class:`AsgiAdapter` is the ASGI application that uvicorn runs. Per request it builds an
:class:`HttpRequest` from the scope, reads the body within its limits, and hands both to a
:class:`Handler` with a :class:`Responder` that writes the answer through ASGI ``send``: a whole
body (``Content-Length``), or a stream of chunks (uvicorn frames it ``Transfer-Encoding:
chunked``) for JSON lines and Server-Sent Events.

The body's limits:

- its size: a ``Content-Length`` over the request's limit is refused before a byte of the body
  is read (and before ``100 Continue``), a chunked body as soon as the bytes counted so far pass
  it; 413 with the limit in the message;
- its time: every part must come within ``body_idle_timeout`` (400 naming the bytes that came,
  when a body is shorter than its ``Content-Length``; 408 when none came), and the whole body
  must arrive before the request's deadline (``BodyLimits.deadline``, the graph's), however it
  trickles in (408); the connection closes after either;
- a ``POST`` needs a length (``Content-Length`` or chunked): 411.

While the handler runs the adapter waits for ``http.disconnect``, so a client that goes away is
noticed at once and its request is cancelled. An exception that escapes a handler is logged and
answered 500 without a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from braid.runtime._ingress.http_protocol import HttpLimits, error_body, status_kind

logger = logging.getLogger(__name__)

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def sse_event(data: bytes, event: str | None = None) -> bytes:
    """One Server-Sent Event whose ``data`` is a single line (compact JSON has no newline)."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + data.replace(b"\n", b"\ndata: ") + b"\n\n"


class HttpError(Exception):
    """A request refused at the HTTP level, answered with ``status`` and a JSON error."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


class ClientGone(Exception):
    """The client closed the connection before its whole request arrived (nothing to answer)."""


@dataclass(slots=True)
class HttpRequest:
    """One request; header names are lower-case (repeated headers joined with ", ")."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: The request's deadline (``time.monotonic``) once it has one; its body arrived before it.
    deadline: float | None = None

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case ("" when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How large a request's body may be, and the monotonic time by which it must be in."""

    max_bytes: int
    deadline: float


Handler = Callable[[HttpRequest, "Responder"], Awaitable[None]]
#: The body limits of a request, from its head (``None``: the server's defaults).
BodyLimiter = Callable[[HttpRequest], BodyLimits | None]


def _request_of(scope: Scope) -> HttpRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    query = scope.get("query_string", b"")
    return HttpRequest(
        method=scope["method"],
        path=scope["path"] or "/",
        headers=headers,
        query=dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else {},
    )


class Responder:
    """Writes one response: :meth:`send`, or :meth:`start_stream`, chunks, :meth:`end_stream`."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.status = 0
        #: The whole response has been handed to the server.
        self.complete = False

    async def _start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if self.started:
            raise RuntimeError("a response was already started on this request")
        self.started, self.status = True, status
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a whole response."""
        fields = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
        fields += [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
        await self._start(status, fields)
        await self._send({"type": "http.response.body", "body": body})
        self.complete = True

    async def send_error(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        await self.send(status, error_body(kind, message), headers=headers)

    async def start_stream(
        self, content_type: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Start a chunked response; write it with :meth:`write_chunk` and :meth:`end_stream`."""
        fields = [
            (b"content-type", content_type.encode()),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        fields += [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
        await self._start(200, fields)

    async def write_chunk(self, data: bytes) -> None:
        if data:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end_stream(self) -> None:
        await self._send({"type": "http.response.body", "body": b""})
        self.complete = True


class AsgiAdapter:
    """The ASGI application that serves ``handler`` (see the module docstring)."""

    def __init__(
        self,
        handler: Handler,
        *,
        limits: HttpLimits | None = None,
        body_limits: BodyLimiter | None = None,
    ) -> None:
        self._handler = handler
        self._limits = limits or HttpLimits()
        self._body_limits = body_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan, no WebSocket
        request = _request_of(scope)
        responder = Responder(send)
        try:
            request.body = await self._read_body(request, receive)
        except ClientGone:
            return
        except HttpError as exc:
            headers = {"Connection": "close"} if exc.close else None
            await responder.send_error(
                exc.status, status_kind(exc.status), exc.message, headers=headers
            )
            return
        await self._handle(request, responder, receive)

    def _limits_of(self, request: HttpRequest) -> BodyLimits:
        limits = self._body_limits(request) if self._body_limits is not None else None
        default = self._limits.max_body_bytes
        if limits is None:
            return BodyLimits(max_bytes=default, deadline=time.monotonic() + 60.0)
        return BodyLimits(max_bytes=min(default, limits.max_bytes), deadline=limits.deadline)

    async def _read_body(self, request: HttpRequest, receive: Receive) -> bytes:
        headers = request.headers
        length = headers.get("content-length")
        if length is None and "transfer-encoding" not in headers:
            if request.method in ("POST", "PUT", "PATCH"):
                raise HttpError(411, "the request needs a Content-Length (or a chunked body)")
            return b""
        if length == "0":
            return b""
        limits = self._limits_of(request)
        request.deadline = limits.deadline
        if length is not None and int(length) > limits.max_bytes:  # llhttp checked the digits
            raise HttpError(
                413,
                f"the request body ({length} bytes) is over the limit of {limits.max_bytes} bytes",
            )
        parts: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout_at(_loop_time(limits.deadline)):
                while True:
                    message = await self._receive_some(receive, size, length)
                    if message["type"] == "http.disconnect":
                        raise ClientGone
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise HttpError(
                            413, f"the request body is over the limit of {limits.max_bytes} bytes"
                        )
                    parts.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise HttpError(
                408,
                f"the request body did not arrive before the request's deadline ({size} bytes "
                "came); send it faster or raise the timeout",
                close=True,
            ) from None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _receive_some(
        self, receive: Receive, size: int, length: str | None
    ) -> dict[str, Any]:
        """The next part of the body, which must come within ``body_idle_timeout``."""
        try:
            async with asyncio.timeout(self._limits.body_idle_timeout):
                return await receive()
        except TimeoutError:
            if not size:
                raise HttpError(
                    408, "the request body did not arrive in time", close=True
                ) from None
            of = f" of {length}" if length is not None else ""
            raise HttpError(
                400,
                f"the request body stopped after {size}{of} bytes; is its Content-Length right?",
                close=True,
            ) from None

    async def _handle(self, request: HttpRequest, responder: Responder, receive: Receive) -> None:
        """Run the handler, cancelled if the client closes the connection meanwhile (a watcher
        task waits for ``http.disconnect``; the handler runs in uvicorn's task, no other)."""
        task = asyncio.current_task()
        watcher = asyncio.ensure_future(_cancel_when_gone(receive, responder, task))
        try:
            await self._guarded(request, responder)
        except asyncio.CancelledError:
            if task is None or not watcher.done() or watcher.cancelled() or not watcher.result():
                raise  # not the watcher's doing
            task.uncancel()  # the client went away: nothing to answer
        finally:
            watcher.cancel()

    async def _guarded(self, request: HttpRequest, responder: Responder) -> None:
        try:
            await self._handler(request, responder)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:
            # No traceback in the log (STYLE): the error's type and message say what failed.
            logger.error(
                "HTTP handler failed for %s %s: %s: %s",
                request.method,
                request.path[:200],
                type(exc).__name__,
                exc,
            )
            if not responder.started:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await responder.send_error(
                        500,
                        "InternalError",
                        "internal error in the ingress",
                        headers={"Connection": "close"},
                    )


async def _cancel_when_gone(
    receive: Receive, responder: Responder, task: asyncio.Task[Any] | None
) -> bool:
    """Cancel ``task`` when the client goes away before its response is complete (``True``)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    if responder.complete or task is None:
        return False
    task.cancel()
    return True


def _loop_time(deadline: float) -> float:
    """``deadline`` (``time.monotonic``) on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())
