"""Peer discovery in a cluster: a list and watch of the graph's EndpointSlices (standard library).

The operator gives each node a headless Service ``<graph>-<node>``; the EndpointSlice controller
keeps its slices current and copies the Service's labels onto them, so one selector
(``braid.dev/graph=<graph>,braid.dev/component=node``) finds every node's slices and no
ingress's. Per node, routing uses the addresses of ready endpoints; when none is ready, it falls
back to endpoints still *serving* while they terminate (``conditions.serving``), as kube-proxy
does since KEP-1669. So a node's only pod, deleted, keeps taking calls through its preStop sleep
and drain instead of leaving a gap of 503s until its replacement is ready; an endpoint that is
not serving is never used.

The pure part, :func:`slice_endpoints` and :func:`routable_peers`, is tested on its own. The I/O
loop speaks HTTP/1.1 to the API server (why no client library: decision 0007):

- list, then watch from the list's ``resourceVersion``;
- a watch that ends normally (``timeoutSeconds``) resumes from the last version seen, bookmarks
  included, without a relist;
- a watch that expired (410 Gone, as a response or as an ERROR event) relists at once, quietly;
- any other failure (connection refused, 503 from a restarting API server, 403) keeps the last
  known peers and retries with exponential backoff, logging the first failure of a run.

Errors (internal: the loop catches them all)::

    DiscoveryError        the EndpointSlice watch could not go on
    ├── ApiStatusError    the API server answered with a failure status (or an ERROR event)
    └── WatchExpired      410 Gone: the resourceVersion is too old; list again
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import quote

logger = logging.getLogger(__name__)

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
GRPC_PORT_NAME = "grpc"
NODE_LABEL = "braid.dev/node"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: The API server ends a watch after this long; the loop then resumes from the last version.
WATCH_SECONDS = 300
#: Backoff between failed attempts: doubles from the first to the last.
FIRST_RETRY_SECONDS = 0.5
LAST_RETRY_SECONDS = 10.0
#: A failure Status body is read for its message up to this size.
MAX_ERROR_BODY = 65536


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach the API server (filled in by the CLI from the pod's environment).

    By default HTTPS, verified with the service-account CA and authenticated with its token,
    which is read again on every connection (projected tokens rotate). ``tls=False`` speaks
    plain HTTP and sends no token, for an API server reached through ``kubectl proxy``
    (``127.0.0.1:8001``), which adds the credentials itself.
    """

    host: str
    port: int
    namespace: str
    token_file: Path = SERVICE_ACCOUNT / "token"
    ca_file: Path = SERVICE_ACCOUNT / "ca.crt"
    tls: bool = True


class DiscoveryError(Exception):
    """The EndpointSlice list or watch failed; the loop keeps the last peers and retries."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiStatusError(DiscoveryError):
    """The API server answered a failure status (``code``), in the response or in the watch."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"the API server answered {code}: {message}")
        self.code = code


class WatchExpired(DiscoveryError):
    """410 Gone: the watch's resourceVersion was compacted away; only a new list helps."""


class EndpointConditions(TypedDict, total=False):
    ready: bool | None
    serving: bool | None
    terminating: bool | None


class Endpoint(TypedDict, total=False):
    addresses: list[str]
    conditions: EndpointConditions


class EndpointPort(TypedDict, total=False):
    name: str
    port: int
    protocol: str


class EndpointSlice(TypedDict, total=False):
    """The fields of a ``discovery.k8s.io/v1`` EndpointSlice that discovery reads."""

    metadata: dict[str, Any]
    addressType: str
    endpoints: list[Endpoint] | None
    ports: list[EndpointPort] | None


@dataclass(frozen=True)
class SliceEndpoints:
    """One slice's addresses (``ip:port`` of the gRPC port) for its node."""

    node: str
    ready: tuple[str, ...] = ()
    #: Ready endpoints and those still serving while they terminate.
    serving: tuple[str, ...] = ()


def slice_endpoints(endpoint_slice: EndpointSlice, graph: str) -> SliceEndpoints:
    """The node of an EndpointSlice, and its ready and its serving addresses.

    Conditions as the API documents them: an unset ``ready`` counts as ready; ``ready`` is
    never true on a terminating endpoint (checked anyway); an unset ``serving`` defers to
    ``ready``.
    """
    labels = (endpoint_slice.get("metadata") or {}).get("labels") or {}
    node = labels.get(NODE_LABEL) or labels.get(SERVICE_NAME_LABEL, "").removeprefix(f"{graph}-")
    ports = [p for p in endpoint_slice.get("ports") or () if p.get("name") == GRPC_PORT_NAME]
    port = ports[0].get("port") if ports else None
    if port is None or not node:
        return SliceEndpoints(node)
    ipv6 = endpoint_slice.get("addressType") == "IPv6"
    ready: list[str] = []
    serving: list[str] = []
    for endpoint in endpoint_slice.get("endpoints") or ():
        conditions = endpoint.get("conditions") or {}
        is_ready = (
            conditions.get("ready") is not False and conditions.get("terminating") is not True
        )
        is_serving = conditions.get("serving")
        if is_serving is None:
            is_serving = conditions.get("ready") is not False
        addresses = [
            f"[{address}]:{port}" if ipv6 else f"{address}:{port}"
            for address in endpoint.get("addresses") or ()
        ]
        if is_ready:
            ready += addresses
        if is_ready or is_serving:
            serving += addresses
    return SliceEndpoints(node, tuple(ready), tuple(serving))


def routable_peers(slices: Iterable[SliceEndpoints]) -> dict[str, tuple[str, ...]]:
    """Per node, the ready addresses over all its slices, or if none, the serving ones."""
    ready: dict[str, set[str]] = {}
    serving: dict[str, set[str]] = {}
    for found in slices:
        ready.setdefault(found.node, set()).update(found.ready)
        serving.setdefault(found.node, set()).update(found.serving)
    return {node: tuple(sorted(ready[node] or serving[node])) for node in ready}


class KubernetesDiscovery:
    """Routable replicas of every node of one graph, from an EndpointSlice watch.

    ``sleep`` is the clock the backoff waits on (``asyncio.sleep``).
    """

    def __init__(
        self,
        access: ClusterAccess,
        graph: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics_port: int | None = None,
    ) -> None:
        self._access, self._graph, self._sleep = access, graph, sleep
        #: Every replica's sidecar serves its metrics on this port of its pod's address.
        self._metrics_port = metrics_port
        self._slices: dict[str, SliceEndpoints] = {}
        self._peers: dict[str, tuple[str, ...]] = {}
        #: The last resourceVersion seen; empty until the first list, and after a 410.
        self._version = ""
        #: Failed attempts in a row, for the backoff; reset by a list or a watch event.
        self._failures = 0
        #: Watches in a row that ended normally without any event.
        self._empty_watches = 0
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()

    def replicas(self, node: str) -> Sequence[str]:
        return self._peers.get(node, ())

    def metrics_address(self, replica: str) -> str | None:
        if self._metrics_port is None:
            return None
        host = replica.rsplit(":", 1)[0]
        return f"{host}:{self._metrics_port}"

    def failure(self, node: str) -> str | None:
        # A pod that cannot start shows in its Deployment's status, not here: held requests
        # wait until their deadline (the graph's status names the failing node).
        return None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="braid-endpointslice-watch")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.synced.wait(), 10)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def apply_event(self, kind: str, endpoint_slice: EndpointSlice) -> None:
        """Fold one watch event (ADDED, MODIFIED, DELETED) into the peer map."""
        name = (endpoint_slice.get("metadata") or {}).get("name", "")
        if kind == "DELETED":
            self._slices.pop(name, None)
        else:
            self._slices[name] = slice_endpoints(endpoint_slice, self._graph)
        self._peers = routable_peers(self._slices.values())

    async def _run(self) -> None:
        while True:
            try:
                if not self._version:
                    await self._list()
                    self.synced.set()
                if await self._watch():
                    self._empty_watches = 0
                else:
                    # Ended without an event, bookmark or error: once is a quiet timeout; again
                    # and again is a proxy or server closing watches at once: do not spin.
                    if self._empty_watches:
                        await self._sleep(_backoff(self._empty_watches - 1))
                    self._empty_watches += 1
                continue  # resume from self._version
            except WatchExpired:
                logger.debug(
                    "EndpointSlice watch expired at version %s; listing again", self._version
                )
                self._version = ""
                continue
            except DiscoveryError as exc:
                delay = _backoff(self._failures)
                logger.log(
                    logging.WARNING if self._failures == 0 else logging.DEBUG,
                    "EndpointSlice watch of graph %s failed, keeping the last known peers and"
                    " retrying in %.1fs: %s",
                    self._graph,
                    delay,
                    exc,
                )
            self._failures += 1
            await self._sleep(delay)

    def _progressed(self) -> None:
        """A list or a watch event got through: the next failure starts the backoff afresh."""
        if self._failures:
            logger.info("EndpointSlice watch of graph %s is back", self._graph)
            self._failures = 0

    def _path(self, *, watch: bool) -> str:
        selector = quote(f"braid.dev/graph={self._graph},braid.dev/component=node")
        namespace = quote(self._access.namespace)
        path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
        path += f"?labelSelector={selector}"
        if watch:
            path += f"&watch=true&allowWatchBookmarks=true&timeoutSeconds={WATCH_SECONDS}"
            path += f"&resourceVersion={quote(self._version)}"
        return path

    async def _list(self) -> None:
        reader, writer = await self._connect(self._path(watch=False))
        try:
            body = await _read_body(reader)
        finally:
            writer.close()
        try:
            listing = json.loads(body)
            items = listing.get("items") or []
            version = str(listing["metadata"]["resourceVersion"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DiscoveryError(f"the EndpointSlice list is malformed: {exc!r}") from exc
        self._slices = {
            (item.get("metadata") or {}).get("name", ""): slice_endpoints(item, self._graph)
            for item in items
        }
        self._peers = routable_peers(self._slices.values())
        self._version = version
        self._progressed()
        logger.debug("EndpointSlices of graph %s listed: %s", self._graph, self._peers)

    async def _watch(self) -> bool:
        """Follow one watch until it ends; whether it delivered any event."""
        reader, writer = await self._connect(self._path(watch=True))
        seen = False
        try:
            async with contextlib.aclosing(_lines(reader)) as lines:
                async for line in lines:
                    self._apply_line(line)
                    seen = True
        finally:
            writer.close()
        return seen

    def _apply_line(self, line: bytes) -> None:
        try:
            event = json.loads(line)
            kind = event["type"]
            obj = event["object"]
            version = str((obj.get("metadata") or {}).get("resourceVersion", ""))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DiscoveryError(f"a watch event is malformed: {exc!r}") from exc
        if kind == "ERROR":
            code, message = obj.get("code"), obj.get("message", "")
            if code == 410:
                raise WatchExpired(f"the watch expired: {message}")
            raise ApiStatusError(code if isinstance(code, int) else 0, message)
        if kind in {"ADDED", "MODIFIED", "DELETED"}:
            self.apply_event(kind, obj)
        if version:  # BOOKMARK events carry only this
            self._version = version
        self._progressed()

    async def _connect(self, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Send the GET, check the status; the reader is then at the response's headers."""
        access = self._access
        authorization = ""
        context = None
        if access.tls:
            try:
                context = ssl.create_default_context(cafile=str(access.ca_file))
                token = access.token_file.read_text().strip()  # re-read: projected tokens rotate
            except OSError as exc:
                raise DiscoveryError(f"cannot read the service-account credentials: {exc}") from exc
            authorization = f"Authorization: Bearer {token}\r\n"
        try:
            reader, writer = await asyncio.open_connection(access.host, access.port, ssl=context)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {access.host}\r\n{authorization}"
                "Accept: application/json\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status = await reader.readline()
        except (OSError, ValueError) as exc:
            raise DiscoveryError(f"cannot reach the API server at {access.host}: {exc}") from exc
        parts = status.split(maxsplit=2)
        code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        if code == 200:
            return reader, writer
        try:
            message = await _status_message(reader)
        finally:
            writer.close()
        if code == 410:
            raise WatchExpired(f"the watch expired: {message}")
        raise ApiStatusError(code, message or status.decode(errors="replace").strip())


def _backoff(failures: int) -> float:
    return float(min(FIRST_RETRY_SECONDS * 2**failures, LAST_RETRY_SECONDS))


async def _status_message(reader: asyncio.StreamReader) -> str:
    """The ``message`` of a failure's Status body, or its first line."""
    try:
        body = (await asyncio.wait_for(_read_body(reader), 5))[:MAX_ERROR_BODY]
    except (OSError, TimeoutError, DiscoveryError):
        return ""
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(body).get("message", ""))
    return body.decode(errors="replace").strip().partition("\n")[0]


async def _read_headers(reader: asyncio.StreamReader) -> bool:
    """Skip the headers; whether the body is chunked (else it runs to the connection's end)."""
    chunked = False
    try:
        while (line := await reader.readline()) not in {b"\r\n", b"\n", b""}:
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "transfer-encoding":
                chunked = value.strip().lower() == "chunked"
    except (OSError, ValueError) as exc:
        raise DiscoveryError(f"the API server's response broke off: {exc!r}") from exc
    return chunked


async def _read_chunk(reader: asyncio.StreamReader, chunked: bool) -> bytes:
    """The next piece of a body; empty at its end. A chunked body must end with its last chunk."""
    try:
        if not chunked:
            return await reader.read(65536)
        size_line = await reader.readline()
        if not size_line:
            raise DiscoveryError("the API server closed the connection in the middle of a response")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return b""
        chunk = await reader.readexactly(size)
        await reader.readline()
        return chunk
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        raise DiscoveryError(f"the API server's response broke off: {exc!r}") from exc


async def _read_body(reader: asyncio.StreamReader) -> bytes:
    chunked = await _read_headers(reader)
    body = b""
    while chunk := await _read_chunk(reader, chunked):
        body += chunk
    return body


async def _lines(reader: asyncio.StreamReader) -> AsyncGenerator[bytes, None]:
    """The non-empty lines of a response body (a watch sends one JSON event a line)."""
    chunked = await _read_headers(reader)
    buffer = b""
    while chunk := await _read_chunk(reader, chunked):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer
