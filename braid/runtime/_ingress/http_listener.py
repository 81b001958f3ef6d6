"""An HTTP listener: uvicorn serving an ASGI app inside the ingress's own event loop.

uvicorn runs programmatically, on the loop that also runs the gRPC server and the flow runners,
with the protocol of :mod:`braid.runtime._ingress.http_protocol` (httptools with the ingress's
limits), no lifespan, no access log and no logging configuration of its own (the CLI configures
logging once). The listening socket is bound here, with ``SO_REUSEPORT`` when ``braid run``
reserved the port, and handed to uvicorn. Optional TLS (a certificate and key) comes from
:class:`TlsFiles`.

:meth:`HttpListener.drain` stops gracefully: it stops listening at once, closes idle
keep-alive connections, answers requests in flight with ``Connection: close`` and waits for
them, up to a timeout, after which they are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from braid.runtime._ingress.http_asgi import AsgiAdapter
from braid.runtime._ingress.http_protocol import HttpLimits, protocol_with

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A PEM certificate chain and its private key: serve HTTPS instead of HTTP."""

    certfile: Path
    keyfile: Path


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket for ``host:port`` (uvicorn makes it listen)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it a response written in two parts (head, body) waits for a delayed ACK (40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HttpListener:
    """Serves an :class:`AsgiAdapter` with uvicorn on one address."""

    def __init__(
        self,
        app: AsgiAdapter,
        *,
        limits: HttpLimits | None = None,
        reuse_port: bool = False,
        tls: TlsFiles | None = None,
    ) -> None:
        self._app = app
        self._limits = limits or HttpLimits()
        self._reuse_port = reuse_port
        self._tls = tls
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the HTTP listener is not started")
        port: int = self._socket.getsockname()[1]
        return port

    async def start(self, host: str, port: int) -> None:
        limits = self._limits
        config = uvicorn.Config(
            self._app,
            http=protocol_with(limits),
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=limits.keep_alive_timeout,
            backlog=1024,
            ssl_certfile=str(self._tls.certfile) if self._tls else None,
            ssl_keyfile=str(self._tls.keyfile) if self._tls else None,
        )
        self._socket = bind_socket(host, port, reuse_port=self._reuse_port)
        server = uvicorn.Server(config)
        # What uvicorn's serve() does, without the signal handlers it installs: the ingress has
        # its own, and stops the server itself.
        config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[self._socket])
        self._task = asyncio.create_task(server.main_loop())  # the Date header, once a second
        self._server = server

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - the drain timeout
        """Stop listening and let requests in flight finish, for at most ``timeout`` seconds."""
        if self._server is None or self._task is None:
            return
        self._server.config.timeout_graceful_shutdown = max(1, round(timeout))
        self._server.should_exit = True
        await self._task
        await self._server.shutdown(sockets=[self._socket] if self._socket else None)
        self._server = None

    async def close(self) -> None:
        """Stop: requests in flight are cancelled after a second."""
        await self.drain(0)
        if self._socket is not None:
            self._socket.close()
