"""HTTP/1.1 on uvicorn's httptools protocol, with the ingress's limits on a request's head.

Parsing is llhttp's (through ``httptools``), as in uvicorn: it refuses what a strict HTTP/1.1
parser refuses (chunk sizes that are not hex, a non-digit ``Content-Length``, control bytes in a
header, bare LF line ends, both ``Content-Length`` and ``Transfer-Encoding``, bytes that are not
HTTP at all), at the byte where the request goes wrong, so such a request is answered 400 at
once. uvicorn bounds neither the head's size nor the time it takes to arrive; this subclass of
its protocol adds both (:class:`HttpLimits`):

- the request target may be at most ``max_line_bytes`` (414), the head at most
  ``max_head_bytes`` and ``max_headers`` headers (431);
- once its first byte came, the head must be complete within ``head_timeout`` seconds (408: a
  slowloris client is cut off); a new connection that sends nothing is closed after the
  keep-alive timeout.

Every refusal is the ingress's JSON error body (``{"error": {"kind", "message", ...}}``) with
``Connection: close``, never uvicorn's plain-text one. The request's body is the ASGI app's
business (:mod:`braid.runtime._ingress.http_asgi`): its size limit and its time limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Limits of the HTTP server; the defaults suit a JSON inference API."""

    max_line_bytes: int = 8 * 1024
    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    max_body_bytes: int = 256 * 1024 * 1024
    #: The whole head must arrive within this time once its first byte came (slowloris bound).
    head_timeout: float = 10.0
    #: Every read of a body must bring bytes within this time (a client that sent a shorter
    #: body than its Content-Length hears so within it); the whole body must also arrive
    #: before the request's deadline, however it trickles in.
    body_idle_timeout: float = 3.0
    #: An idle keep-alive connection (or a new one that sends nothing) is closed after this time.
    keep_alive_timeout: int = 75


def error_body(
    kind: str,
    message: str,
    *,
    node: str = "",
    step: str = "",
    extra: dict[str, object] | None = None,
) -> bytes:
    """The JSON error body of every failed request (``extra``: the error's other fields)."""
    error = {**(extra or {}), "kind": kind, "message": message, "node": node, "step": step}
    return json.dumps({"error": error}).encode() + b"\n"


def status_kind(status: int) -> str:
    """The error kind of an HTTP-level refusal: its reason phrase in CamelCase."""
    return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request over a limit."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on the head and JSON refusals (module docstring).

    :func:`protocol_with` makes a subclass bound to one :class:`HttpLimits`.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._in_head = False
        self._head_bytes = 0
        self._header_count = 0
        #: What the headers parsed so far hold (a head that arrives in one read is counted here;
        #: one that arrives over several reads is also counted read by read while unfinished).
        self._header_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn arms its keep-alive timer only after a response: arm it for the first request.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no upgrades (WebSocket, h2c): the request is served as HTTP/1.1
        except _Refused:
            self._refuse()
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _Refused) or self._refusal is not None:
                self._refuse()
            else:  # a callback of uvicorn's failed on this request
                self._refusal = (400, "malformed HTTP request")
                self._refuse()
        except httptools.HttpParserError as exc:
            reason = str(exc) or "malformed request"
            self._refusal = (400, f"malformed HTTP request: {reason}")
            self._refuse()
        else:
            if self._in_head:  # every byte of this read belonged to an unfinished head
                self._head_bytes += len(data)
                if self._head_bytes > self.limits.max_head_bytes:
                    self._refusal = (431, "request headers are too large")
                    self._refuse()

    # Parser callbacks (llhttp calls them from feed_data).

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._header_count, self._header_bytes = True, 0, 0, 0
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_line_bytes:
            self._refusal = (414, "the request target is too long")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._header_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers:
            self._refusal = (431, f"too many request headers (at most {self.limits.max_headers})")
            raise _Refused
        if self._header_bytes > self.limits.max_head_bytes:
            self._refusal = (431, "request headers are too large")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    # Refusals.

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refusal = (408, "the request's headers did not arrive in time")
            self._refuse()

    def _refuse(self) -> None:
        """Answer the refusal with a JSON error and close the connection."""
        self._stop_head_timer()
        self._in_head = False
        status, message = self._refusal or (400, "malformed HTTP request")
        logger.debug("HTTP request refused: %d %s", status, message)
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if not cycle.more_body or cycle.response_started:
                # A pipelined request went wrong while an earlier one is being answered: a
                # refusal cannot be put in the middle of that answer, so just close.
                self.transport.close()
                return
            # This request's own body is malformed (a bad chunk): its app stops reading.
            cycle.disconnected = True
            cycle.message_event.set()
        body = error_body(status_kind(status), message)
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def protocol_with(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """A :class:`LimitedHttpToolsProtocol` class bound to ``limits`` (uvicorn makes one per
    connection from its class)."""
    return type("HttpProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
