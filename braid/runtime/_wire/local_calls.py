"""Unary calls between braid's own processes on one host, over Unix sockets (decision 0025).

``braid run`` starts every process of a graph on one machine. There, a replica also serves its
unary ``Call`` on a Unix socket, and its callers (the ingress and the other replicas) use that
socket instead of gRPC: one length-prefixed frame per message, the same ``CallRequest`` and
``CallReply`` protobufs, and no HTTP/2. A call costs about a fifth of the CPU of a ``grpc.aio``
call on each side (docs/benchmarks.md), which on two cores is most of a hop's latency.

Everything else stays on gRPC: streams, fetches, health, and every call that crosses hosts (a
cluster never uses this path). A caller uses the socket only when it exists, so a replica that
does not serve one is called over gRPC as before.

Frames, both ways: ``length (u32) | kind (u8) | call id (u64) | body``.
- ``CALL``: ``timeout (f64, NaN for none) | domain length (u16) | domain | CallRequest``;
- ``CANCEL``: no body; the callee cancels the call (the caller gave up: deadline, cancel);
- ``REPLY``: a ``CallReply``;
- ``ERROR``: JSON ``{"details", "not_started"}``: the error details that gRPC carries in
  trailing metadata (:func:`errors.error_metadata`), and whether the call was refused unrun.

The semantics are the gRPC path's: a call refused before anything ran (``not_started``), or one
that never connected, may go to another replica; one that reached a replica never is; the
deadline cancels the callee's work; an error keeps its kind, node and step.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from braid.runtime._proto.braid_pb2 import CallReply, CallRequest
from braid.runtime._wire.errors import (
    DeadlineExceeded,
    ReplicaUnavailable,
    RequestError,
    error_from_details,
    error_metadata,
)

logger = logging.getLogger(__name__)

_FRAME = struct.Struct("!IBQ")  # body length, kind, call id
_CALL = struct.Struct("!dH")  # timeout, domain length
CALL, CANCEL, REPLY, ERROR = 1, 2, 3, 4
#: The longest socket path Linux takes (sun_path is 108 bytes, with its terminating NUL).
MAX_PATH = 107

#: Runs one call: the request, the seconds its caller allows (gRPC's ``time_remaining()``, None
#: for no deadline), and the caller's shared-memory domain. Raises :class:`Refused` or a
#: ``RequestError``.
Handler = Callable[[CallRequest, float | None, str], Awaitable[CallReply]]


class Refused(Exception):
    """The replica refused the call before running anything: the caller may go elsewhere."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(error.message)
        self.error = error


class NotReached(Exception):
    """A call that never ran on its replica (no connection, or refused up front)."""

    def __init__(self, error: RequestError) -> None:
        super().__init__(error.message)
        self.error = error


def socket_path(directory: Path, address: str) -> Path:
    """Where the replica that serves gRPC on ``address`` (``host:port``) serves local calls."""
    host, _, port = address.rpartition(":")
    safe = host.strip("[]").replace(":", "-").replace("/", "-")
    return directory / f"{safe}_{port}.sock"


def _frame(kind: int, call_id: int, body: bytes = b"") -> bytes:
    return _FRAME.pack(len(body), kind, call_id) + body


class _Framing(asyncio.Protocol):
    """Splits the byte stream into frames; subclasses handle each one."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._wanted = _FRAME.size  # bytes needed before the next frame can be cut

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= self._wanted:
            length, kind, call_id = _FRAME.unpack_from(buffer)
            end = _FRAME.size + length
            if len(buffer) < end:
                self._wanted = end  # a large body: wait for all of it without re-parsing
                return
            with memoryview(buffer) as view:  # one copy of the body, however large
                body = bytes(view[_FRAME.size : end])
            del buffer[:end]
            self._wanted = _FRAME.size
            self.frame_received(kind, call_id, body)

    def frame_received(self, kind: int, call_id: int, body: bytes) -> None:
        raise NotImplementedError

    def send(self, data: bytes) -> bool:
        transport = self.transport
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        return True


# -- the callee ------------------------------------------------------------------------------


class LocalCallServer:
    """Serves ``handler`` on a Unix socket at ``path`` (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        handler: Handler,
        *,
        undelivered: Callable[[CallReply], None] | None = None,
    ) -> None:
        self.path = path
        self.handler = handler
        #: Called with a reply that could not be sent (its caller went away): shared-memory
        #: segments it names would otherwise stay until they expire.
        self.undelivered = undelivered
        self.stopping = False
        self._server: asyncio.AbstractServer | None = None
        self._inode = 0
        self._connections: set[_ServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> bool:
        """Listen; False (and a warning) if the path is too long for a Unix socket."""
        if len(os.fsencode(self.path)) > MAX_PATH:
            logger.warning("local calls off: the socket path %s is too long", self.path)
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a previous replica on this port left it behind
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: _ServerConnection(self), str(self.path)
        )
        self._inode = self.path.stat().st_ino
        return True

    async def stop(self, grace: float) -> None:
        """Refuse new calls (callers go elsewhere), let those running finish for ``grace``
        seconds, then cancel the rest and close every connection."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_ino == self._inode:  # not a successor's on this port
                    self.path.unlink()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=1)
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()

    def run(self, connection: _ServerConnection, call_id: int, body: bytes) -> None:
        if self.stopping:
            error = ReplicaUnavailable("the replica is stopping; try another replica")
            connection.send(_error_frame(call_id, error, not_started=True))
            return
        task = asyncio.get_running_loop().create_task(self._answer(connection, call_id, body))
        self._tasks.add(task)
        connection.calls[call_id] = task
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: connection.calls.pop(call_id, None))

    async def _answer(self, connection: _ServerConnection, call_id: int, body: bytes) -> None:
        try:
            timeout, length = _CALL.unpack_from(body)
            start = _CALL.size + length
            domain = body[_CALL.size : start].decode()
            with memoryview(body) as view:
                request = CallRequest.FromString(view[start:])
        except Exception as exc:  # a malformed frame: the caller's bug
            error = RequestError(f"malformed local call: {exc}")
            connection.send(_error_frame(call_id, error))
            return
        try:
            reply = await self.handler(request, None if math.isnan(timeout) else timeout, domain)
        except Refused as refused:
            connection.send(_error_frame(call_id, refused.error, not_started=True))
        except RequestError as error:
            connection.send(_error_frame(call_id, error))
        except asyncio.CancelledError:
            return  # the caller cancelled, or went away: nobody reads an answer
        except Exception:  # pragma: no cover - the handler turns user errors into RequestError
            logger.exception("local call %d failed", call_id)
            connection.send(_error_frame(call_id, RequestError("internal error in the replica")))
        else:
            sent = connection.send(_frame(REPLY, call_id, reply.SerializeToString()))
            if not sent and self.undelivered is not None:
                self.undelivered(reply)


def _error_frame(call_id: int, error: RequestError, *, not_started: bool = False) -> bytes:
    (_, details), *_ = error_metadata(error)  # what gRPC's trailers would carry
    body = {"details": details.decode(), "not_started": not_started}
    return _frame(ERROR, call_id, json.dumps(body).encode())


class _ServerConnection(_Framing):
    def __init__(self, server: LocalCallServer) -> None:
        super().__init__()
        self.server = server
        self.calls: dict[int, asyncio.Task[None]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        for task in list(self.calls.values()):  # the caller is gone: stop its work
            task.cancel()

    def frame_received(self, kind: int, call_id: int, body: bytes) -> None:
        if kind == CALL:
            self.server.run(self, call_id, body)
        elif kind == CANCEL:
            task = self.calls.get(call_id)
            if task is not None:
                task.cancel()


# -- the caller ------------------------------------------------------------------------------


class LocalCallClient:
    """Calls replicas over their Unix sockets in ``directory``: one connection per replica,
    every call multiplexed over it by id."""

    def __init__(
        self, directory: Path, *, orphaned: Callable[[CallReply], None] | None = None
    ) -> None:
        self.directory = directory
        #: Called with a reply that came after its caller gave up (shared segments to free).
        self.orphaned = orphaned
        self._connections: dict[str, _ClientConnection] = {}
        self._connecting: dict[str, asyncio.Future[_ClientConnection]] = {}

    def serves(self, address: str) -> bool:
        """Whether the replica at ``address`` serves local calls (its socket exists)."""
        if address in self._connections:
            return True
        return socket_path(self.directory, address).exists()

    async def call(
        self, address: str, request: CallRequest, *, seconds: float | None, domain: str
    ) -> CallReply:
        """Run ``request`` on the replica at ``address``; raises :class:`NotReached` when it
        never ran there, else a ``RequestError`` as the gRPC path would."""
        try:
            connection = await self._connection(address)
        except _Unreachable as exc:
            raise NotReached(_unreached(address, request, exc.why)) from None
        call_id = next(connection.ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        connection.pending[call_id] = future
        encoded = domain.encode()
        head = _CALL.pack(math.nan if seconds is None else seconds, len(encoded))
        connection.send(_frame(CALL, call_id, head + encoded + request.SerializeToString()))
        try:
            if seconds is None:
                body = await future
            else:
                async with asyncio.timeout(seconds):
                    body = await future
        except TimeoutError:
            connection.cancel(call_id)
            where = f' node "{request.node}"' if request.node else " a replica"
            raise DeadlineExceeded(
                f"deadline exceeded waiting for{where} at {address}",
                node=request.node,
                step=request.step,
            ) from None
        except asyncio.CancelledError:
            connection.cancel(call_id)
            raise
        except _ConnectionLost:
            where = f' node "{request.node}"' if request.node else " a node"
            raise ReplicaUnavailable(
                f"replica of{where} at {address} is unavailable: the connection closed during "
                "the call",
                node=request.node,
                step=request.step,
            ) from None
        reply: CallReply = CallReply.FromString(body)
        return reply

    async def _connection(self, address: str) -> _ClientConnection:
        connection = self._connections.get(address)
        if connection is not None and not connection.closed:
            return connection
        pending = self._connecting.get(address)
        if pending is not None:  # another call is connecting: share its connection
            return await asyncio.shield(pending)
        pending = asyncio.get_running_loop().create_future()
        self._connecting[address] = pending
        try:
            connection = await self._connect(address)
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved: the waiters, if any, raise it themselves
            raise
        finally:
            del self._connecting[address]
        pending.set_result(connection)
        return connection

    async def _connect(self, address: str) -> _ClientConnection:
        path = socket_path(self.directory, address)
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_unix_connection(
                lambda: _ClientConnection(self, address), str(path)
            )
        except OSError as exc:  # gone, or a dead replica's socket: it never ran there
            raise _Unreachable(exc.strerror or str(exc)) from None
        self._connections[address] = connection
        return connection

    def forget(self, connection: _ClientConnection) -> None:
        if self._connections.get(connection.address) is connection:
            del self._connections[connection.address]

    async def close(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()


def _unreached(address: str, request: CallRequest, why: str) -> RequestError:
    where = f' node "{request.node}"' if request.node else " a node"
    return ReplicaUnavailable(
        f"replica of{where} at {address} is unavailable: {why}",
        node=request.node,
        step=request.step,
    )


class _Unreachable(Exception):
    """No connection to the callee could be made (``why``)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _ConnectionLost(Exception):
    """The connection to the callee closed before its answer came."""


class _ClientConnection(_Framing):
    def __init__(self, client: LocalCallClient, address: str) -> None:
        super().__init__()
        self.client, self.address = client, address
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.ids = itertools.count(1)
        self.closed = False

    def frame_received(self, kind: int, call_id: int, body: bytes) -> None:
        future = self.pending.pop(call_id, None)
        if future is None or future.done():  # the caller gave up meanwhile
            if kind == REPLY and self.client.orphaned is not None:
                self.client.orphaned(CallReply.FromString(body))
            return
        if kind == REPLY:
            future.set_result(body)
        elif kind == ERROR:
            future.set_exception(_error_of(body, self.address))
        else:
            future.set_exception(RequestError(f"unexpected frame {kind} from {self.address}"))

    def cancel(self, call_id: int) -> None:
        if self.pending.pop(call_id, None) is not None:
            self.send(_frame(CANCEL, call_id))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client.forget(self)
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(_ConnectionLost())


def _error_of(body: bytes, address: str) -> Exception:
    try:
        answer: dict[str, Any] = json.loads(body)
        error = error_from_details(answer["details"])
    except (ValueError, KeyError, TypeError):
        return RequestError(f"malformed error from the replica at {address}: {body!r:.200}")
    return NotReached(error) if answer.get("not_started") else error
