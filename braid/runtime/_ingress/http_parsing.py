"""Reading HTTP/1.1 requests from an asyncio stream, within limits, with no dependency.

The ingress speaks just enough HTTP/1.1 for JSON and bytes APIs: a request line, headers, and a
body framed by ``Content-Length`` or ``Transfer-Encoding: chunked``; keep-alive and pipelining;
``Expect: 100-continue``. Every limit is explicit (:class:`HttpLimits`) and every way a request can
be malformed or slow ends in an :class:`HttpError` with the status to answer, so that nothing a
client sends can crash the server or hold a connection forever:

- the request line and headers must arrive within ``head_timeout`` (slowloris), else 408;
- the head may hold at most ``max_head_bytes`` and ``max_headers`` (431), a line at most
  ``max_line_bytes`` (414 for the request line);
- a body needs a length (411), at most ``max_body_bytes`` (413), and every read of it must make
  progress within ``body_idle_timeout`` (400 naming the bytes that came: a body shorter than its
  ``Content-Length``; 408 when none came); a connection that closes midway is 400.

A :class:`ByteStream` buffers what it has read, so that bytes of a pipelined next request that
arrive while the current one runs (the server reads to notice a client that went away) are kept.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_REQUEST_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/1\.([01])$")
_READ_SIZE = 256 * 1024


class HttpError(Exception):
    """A request that cannot be served; answered with ``status`` and then usually closed."""

    def __init__(self, status: int, message: str, *, close: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


class ClientGone(Exception):
    """The client closed the connection before a whole request arrived (nothing to answer)."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Limits of the HTTP server; the defaults suit a JSON inference API."""

    max_line_bytes: int = 8 * 1024
    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    max_body_bytes: int = 256 * 1024 * 1024
    #: The whole head must arrive within this time once the first byte came (slowloris bound).
    head_timeout: float = 10.0
    #: Every read of a body must bring bytes within this time (a client that sent a shorter
    #: body than its Content-Length hears so within it, not after a long timeout).
    body_idle_timeout: float = 3.0
    #: An idle keep-alive connection is closed after this time.
    keep_alive_timeout: float = 75.0


@dataclass(slots=True)
class HttpRequest:
    """One parsed request; header names are lower-case."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes = b""
    path: str = "/"
    query: dict[str, str] = field(default_factory=dict)

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "1.0":
            return "keep-alive" in connection
        return "close" not in connection

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case ("" when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class ByteStream:
    """A buffered reader over an ``asyncio.StreamReader`` that keeps unread bytes."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buffer = bytearray()
        self.at_eof = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def discard(self) -> None:
        """Drop what is buffered (a body read only to be thrown away)."""
        self._buffer.clear()

    async def fill(self) -> bool:
        """Read what the peer sent next; ``False`` at end of stream."""
        data = await self._reader.read(_READ_SIZE)
        if not data:
            self.at_eof = True
            return False
        self._buffer += data
        return True

    async def read_head(self, limits: HttpLimits, *, idle: float) -> bytes:
        """The bytes of a request's head, up to and without its blank line."""
        if not self._buffer and not self.at_eof:
            try:
                async with asyncio.timeout(idle):
                    await self.fill()
            except TimeoutError:
                raise ClientGone("idle keep-alive connection") from None
        try:
            async with asyncio.timeout(limits.head_timeout):
                while True:
                    end = self._buffer.find(b"\r\n\r\n")
                    if end >= 0:
                        head = bytes(self._buffer[:end])
                        del self._buffer[: end + 4]
                        break
                    if len(self._buffer) > limits.max_head_bytes:
                        raise HttpError(431, "request headers are too large")
                    if not await self.fill():
                        if self._buffer.strip():
                            raise HttpError(400, "the connection closed in the middle of a request")
                        raise ClientGone("connection closed")
        except TimeoutError:
            raise HttpError(408, "the request's headers did not arrive in time") from None
        if len(head) > limits.max_head_bytes:
            raise HttpError(431, "request headers are too large")
        return head

    async def read_exactly(self, size: int, limits: HttpLimits) -> bytes:
        """Exactly ``size`` bytes; 400 when the peer stalls midway or closes early, 408 when
        nothing of the body came."""
        while len(self._buffer) < size:
            try:
                async with asyncio.timeout(limits.body_idle_timeout):
                    more = await self.fill()
            except TimeoutError:
                if self._buffer:
                    raise HttpError(
                        400,
                        f"the request body stopped after {len(self._buffer)} of {size} bytes; "
                        "is its Content-Length right?",
                    ) from None
                raise HttpError(408, "the request body did not arrive in time") from None
            if not more:
                raise HttpError(
                    400, f"the connection closed after {len(self._buffer)} of {size} body bytes"
                )
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def read_line(self, limits: HttpLimits) -> bytes:
        """One CRLF-terminated line (without it), as used by chunked framing."""
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            if len(self._buffer) > limits.max_line_bytes:
                raise HttpError(400, "a chunk header line is too long")
            try:
                async with asyncio.timeout(limits.body_idle_timeout):
                    more = await self.fill()
            except TimeoutError:
                raise HttpError(408, "the request body did not arrive in time") from None
            if not more:
                raise HttpError(400, "the connection closed in the middle of a chunked body")


def parse_head(head: bytes, limits: HttpLimits) -> HttpRequest:
    """Parse a request line and headers (the bytes before the blank line)."""
    lines = head.split(b"\r\n")
    first = lines[0]
    if len(first) > limits.max_line_bytes:
        raise HttpError(414, "the request line is too long")
    match = _REQUEST_LINE.match(first)
    if match is None:
        raise HttpError(400, "malformed request line; expected 'METHOD /path HTTP/1.1'")
    if len(lines) - 1 > limits.max_headers:
        raise HttpError(431, f"too many request headers (at most {limits.max_headers})")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.match(name):
            raise HttpError(400, "malformed request header line")
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    method, target = match[1].decode("ascii"), match[2].decode("latin-1")
    raw_path, _, raw_query = target.partition("?")
    return HttpRequest(
        method=method,
        target=target,
        version=f"1.{match[3].decode()}",
        headers=headers,
        path=unquote(raw_path) or "/",
        query=dict(parse_qsl(raw_query, keep_blank_values=True)),
    )


def body_length(request: HttpRequest, limit: int) -> int | None:
    """The body's length from ``Content-Length``; ``None`` for a chunked body."""
    encoding = request.headers.get("transfer-encoding")
    length = request.headers.get("content-length")
    if encoding is not None:
        if length is not None:
            raise HttpError(400, "a request cannot have both Content-Length and Transfer-Encoding")
        if encoding.strip().lower() != "chunked":
            raise HttpError(501, f"unsupported Transfer-Encoding {encoding!r}; use chunked")
        return None
    if length is None:
        if request.method in ("POST", "PUT", "PATCH"):
            raise HttpError(411, "the request needs a Content-Length (or a chunked body)")
        return 0
    if not length.isdigit() or len(length) > 18:
        raise HttpError(400, f"malformed Content-Length {length[:40]!r}")
    size = int(length)
    if size > limit:
        raise HttpError(413, f"the request body ({size} bytes) is over the limit of {limit} bytes")
    return size


async def read_chunked(stream: ByteStream, limits: HttpLimits, limit: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body, trailers skipped."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = (await stream.read_line(limits)).split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise HttpError(400, "malformed chunk size in a chunked body") from None
        if size < 0:
            raise HttpError(400, "malformed chunk size in a chunked body")
        if size == 0:
            while await stream.read_line(limits):  # trailers, up to the blank line
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            raise HttpError(413, f"the request body is over the limit of {limit} bytes")
        parts.append(await stream.read_exactly(size, limits))
        if await stream.read_exactly(2, limits) != b"\r\n":
            raise HttpError(400, "a chunk of a chunked body is not followed by CRLF")
