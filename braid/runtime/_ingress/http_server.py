"""A small HTTP/1.1 server on asyncio streams: connections, keep-alive, and response framing.

:class:`HttpServer` accepts connections and reads one request after another from each
(:mod:`braid.runtime._ingress.http_parsing`), handing each to a :class:`Handler` with a
:class:`Responder` that writes the answer: a whole body (``Content-Length``), or a stream of
chunks (``Transfer-Encoding: chunked``) for JSON lines and Server-Sent Events. While a handler
runs, the server keeps reading the connection so that a client that goes away is noticed at once
and its request is cancelled (bytes of a pipelined next request are kept for later).

:meth:`HttpServer.drain` stops a server gracefully: it stops listening, closes idle keep-alive
connections, answers requests in flight with ``Connection: close`` and waits for them, up to a
timeout.

A malformed request is answered with its status and a JSON error and the connection is closed;
an exception that escapes a handler is logged and answered 500 without a traceback. Nothing a
client sends can stop the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus

from braid.runtime._ingress.http_parsing import (
    ByteStream,
    ClientGone,
    HttpError,
    HttpLimits,
    HttpRequest,
    body_length,
    parse_head,
    read_chunked,
)

logger = logging.getLogger(__name__)

Handler = Callable[[HttpRequest, "Responder"], Awaitable[None]]


def error_body(
    kind: str,
    message: str,
    *,
    node: str = "",
    step: str = "",
    extra: Mapping[str, object] | None = None,
) -> bytes:
    """The JSON error body of every failed request (``extra``: the error's other fields)."""
    error = {**(extra or {}), "kind": kind, "message": message, "node": node, "step": step}
    return json.dumps({"error": error}).encode() + b"\n"


def sse_event(data: bytes, event: str | None = None) -> bytes:
    """One Server-Sent Event whose ``data`` is a single line (compact JSON has no newline)."""
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + data.replace(b"\n", b"\ndata: ") + b"\n\n"


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n".encode()


class Responder:
    """Writes one response on a connection: :meth:`send`, or :meth:`start_stream` then chunks."""

    def __init__(self, writer: asyncio.StreamWriter, *, keep_alive: bool) -> None:
        self._writer = writer
        self.keep_alive = keep_alive
        self.started = False
        self.status = 0
        self._chunked = False

    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        self.started, self.status = True, status
        lines = [_status_line(status)]
        for name, value in headers.items():
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(
            b"Connection: keep-alive\r\n\r\n" if self.keep_alive else b"Connection: close\r\n\r\n"
        )
        return b"".join(lines)

    async def send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a whole response."""
        if self.started:
            raise RuntimeError("a response was already started on this request")
        fields = {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
        head = self._head(status, fields)
        if len(body) < 64 * 1024:
            self._writer.write(head + body)
        else:  # no copy of a large body just to prepend the head
            self._writer.writelines((head, body))
        await self._writer.drain()

    async def send_error(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        node: str = "",
        step: str = "",
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        body = error_body(kind, message, node=node, step=step, extra=extra)
        await self.send(status, body, headers=headers)

    async def start_stream(
        self, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Start a chunked response; write it with :meth:`write_chunk` and :meth:`end_stream`."""
        fields = {
            "Content-Type": content_type,
            "Transfer-Encoding": "chunked",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **(headers or {}),
        }
        self._chunked = True
        self._writer.write(self._head(200, fields))
        await self._writer.drain()

    async def write_chunk(self, data: bytes) -> None:
        if data:
            self._writer.writelines((f"{len(data):x}\r\n".encode(), data, b"\r\n"))
            await self._writer.drain()

    async def end_stream(self) -> None:
        self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()


#: After an error answer, how much of a request body is read and dropped (and for how long)
#: before the connection closes, so that a client still sending (a 413) reads the answer
#: instead of a reset: closing with unread bytes makes the kernel send RST.
LINGER_BYTES = 64 * 1024 * 1024
LINGER_SECONDS = 5.0


async def _linger(stream: ByteStream, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError, TimeoutError):
        if writer.can_write_eof():
            writer.write_eof()
        drained = 0
        async with asyncio.timeout(LINGER_SECONDS):
            while drained < LINGER_BYTES and await stream.fill():
                drained += stream.buffered
                stream.discard()


class HttpServer:
    """Serves ``handler`` on ``host:port`` over HTTP/1.1 with keep-alive."""

    def __init__(
        self,
        handler: Handler,
        *,
        limits: HttpLimits | None = None,
        body_limit: Callable[[HttpRequest], int] | None = None,
        reuse_port: bool = False,
    ) -> None:
        self._handler = handler
        self._reuse_port = reuse_port
        self.limits = limits or HttpLimits()
        self._body_limit = body_limit
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        #: Connections waiting for a request (with their streams), and responses in progress.
        self._idle: dict[asyncio.Task[None], ByteStream] = {}
        self._responders: set[Responder] = set()
        self.draining = False

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the HTTP server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._connection,
            host,
            port,
            limit=self.limits.max_line_bytes,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
        )

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - the drain timeout
        """Stop listening and let requests in flight finish, for at most ``timeout`` seconds."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        for responder in self._responders:
            responder.keep_alive = False
        for task, stream in list(self._idle.items()):
            if not stream.buffered:  # nothing of a next request has arrived: just close
                task.cancel()
        if self._connections:
            await asyncio.wait(set(self._connections), timeout=timeout)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        stream = ByteStream(reader)
        try:
            while not self.draining and await self._one_request(stream, writer):
                pass
        except (ClientGone, ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("HTTP connection failed")
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(self, stream: ByteStream, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; ``False`` when the connection must close."""
        limits = self.limits
        task = asyncio.current_task()
        try:
            if task is not None:
                self._idle[task] = stream
            try:
                head = await stream.read_head(limits, idle=limits.keep_alive_timeout)
            finally:
                self._idle.pop(task, None)  # type: ignore[arg-type]
            request = parse_head(head, limits)
            limit = limits.max_body_bytes
            if self._body_limit is not None:
                limit = min(limit, self._body_limit(request))
            length = body_length(request, limit)
            if length != 0 and "100-continue" in request.headers.get("expect", "").lower():
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if length is None:
                request.body = await read_chunked(stream, limits, limit)
            elif length:
                request.body = await stream.read_exactly(length, limits)
        except HttpError as exc:
            responder = Responder(writer, keep_alive=not exc.close)
            kind = HTTPStatus(exc.status).phrase.replace(" ", "").replace("-", "")
            await responder.send_error(exc.status, kind, exc.message)
            if exc.close:
                await _linger(stream, writer)
            return not exc.close
        responder = Responder(writer, keep_alive=request.keep_alive and not self.draining)
        self._responders.add(responder)
        try:
            await self._handle(request, responder, stream)
        finally:
            self._responders.discard(responder)
        return responder.keep_alive and (not stream.at_eof or stream.buffered > 0)

    async def _handle(self, request: HttpRequest, responder: Responder, stream: ByteStream) -> None:
        """Run the handler, cancelling it if the client closes the connection meanwhile."""
        handler = asyncio.create_task(self._guarded(request, responder))
        watcher = asyncio.create_task(self._watch(stream))
        try:
            done, _ = await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
            # End of stream with nothing buffered: the client went away (a client that half-closes
            # after a single request is taken as gone too). With pipelined requests buffered, it
            # still wants the answers.
            if handler not in done and watcher.result() and not stream.buffered:
                handler.cancel()
                responder.keep_alive = False
            await asyncio.gather(handler, return_exceptions=True)
        finally:
            for task in (handler, watcher):
                task.cancel()
            await asyncio.gather(handler, watcher, return_exceptions=True)

    @staticmethod
    async def _watch(stream: ByteStream) -> bool:
        """Read ahead until the client closes (``True``); pipelined bytes stay buffered.

        ``False`` when the stream had already ended (a pipelined request after a half-close).
        """
        if stream.at_eof:
            return False
        while not stream.at_eof:
            if stream.buffered > 1024 * 1024:  # a client pipelining this much can wait
                await asyncio.Event().wait()
            if not await stream.fill():
                return True
        return True

    async def _guarded(self, request: HttpRequest, responder: Responder) -> None:
        try:
            await self._handler(request, responder)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            logger.exception("HTTP handler failed for %s %s", request.method, request.path)
            responder.keep_alive = False
            if not responder.started:
                with contextlib.suppress(ConnectionError):
                    await responder.send_error(
                        500, "InternalError", "internal error in the ingress"
                    )
