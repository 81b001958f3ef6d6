"""Peer discovery in a cluster: a watch of the graph's EndpointSlices, with the standard library.

The operator gives each node a headless Service ``<graph>-<node>``; Kubernetes keeps its
EndpointSlices current, with ``conditions.ready`` false as soon as a pod fails readiness or
starts terminating. This module lists and then watches the slices labelled
``braid.dev/graph=<graph>`` and keeps, per node, the addresses of ready, non-terminating
endpoints, so routing stops sending to a pod within a second or so of its readiness change,
well before it exits (the pod's preStop hook waits for that).

It speaks HTTP/1.1 to the API server over TLS with the pod's service-account token, so the
runtime needs no Kubernetes client library. The parsing is a pure function,
:func:`ready_addresses`, tested on its own; the I/O loop reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
GRPC_PORT_NAME = "grpc"


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach the API server from a pod (filled in by the CLI from the environment)."""

    host: str
    port: int
    namespace: str
    token_file: Path = SERVICE_ACCOUNT / "token"
    ca_file: Path = SERVICE_ACCOUNT / "ca.crt"


def ready_addresses(endpoint_slice: Mapping[str, Any], graph: str) -> tuple[str, list[str]]:
    """The node an EndpointSlice belongs to and its ready ``ip:port`` addresses."""
    labels = endpoint_slice.get("metadata", {}).get("labels", {}) or {}
    node = labels.get("braid.dev/node") or labels.get(
        "kubernetes.io/service-name", ""
    ).removeprefix(f"{graph}-")
    ports = [p for p in endpoint_slice.get("ports") or () if p.get("name") == GRPC_PORT_NAME]
    if not ports or not node:
        return node, []
    port = ports[0].get("port")
    found = []
    for endpoint in endpoint_slice.get("endpoints") or ():
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False or conditions.get("terminating") is True:
            continue
        found += [f"{address}:{port}" for address in endpoint.get("addresses") or ()]
    return node, found


class KubernetesDiscovery:
    """Ready replicas of every node of one graph, from an EndpointSlice watch."""

    def __init__(self, access: ClusterAccess, graph: str) -> None:
        self._access, self._graph = access, graph
        self._slices: dict[str, tuple[str, list[str]]] = {}
        self._peers: dict[str, tuple[str, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self.synced = asyncio.Event()

    def replicas(self, node: str) -> Sequence[str]:
        return self._peers.get(node, ())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="braid-endpointslice-watch")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.synced.wait(), 10)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def apply_event(self, kind: str, endpoint_slice: Mapping[str, Any]) -> None:
        """Fold one watch event (ADDED, MODIFIED, DELETED) into the peer map."""
        name = endpoint_slice.get("metadata", {}).get("name", "")
        if kind == "DELETED":
            self._slices.pop(name, None)
        else:
            self._slices[name] = ready_addresses(endpoint_slice, self._graph)
        peers: dict[str, list[str]] = {}
        for node, addresses in self._slices.values():
            peers.setdefault(node, []).extend(addresses)
        self._peers = {node: tuple(sorted(set(addresses))) for node, addresses in peers.items()}

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                version = await self._list()
                self.synced.set()
                backoff = 0.5
                await self._watch(version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watch must survive API server restarts
                logger.warning("EndpointSlice watch failed, retrying in %.1fs: %s", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _path(self, *, watch: bool, version: str = "") -> str:
        selector = quote(f"braid.dev/graph={self._graph}")
        namespace = self._access.namespace
        path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
        path += f"?labelSelector={selector}"
        if watch:
            path += "&watch=1&allowWatchBookmarks=true&timeoutSeconds=300"
            path += f"&resourceVersion={quote(version)}"
        return path

    async def _list(self) -> str:
        reader, writer = await self._connect(self._path(watch=False))
        try:
            body = await _read_body(reader)
        finally:
            writer.close()
        listing = json.loads(body)
        self._slices.clear()
        for item in listing.get("items", []):
            self.apply_event("ADDED", item)
        if not listing.get("items"):
            self._peers = {}
        return str(listing.get("metadata", {}).get("resourceVersion", ""))

    async def _watch(self, version: str) -> None:
        reader, writer = await self._connect(self._path(watch=True, version=version))
        try:
            async for line in _chunked_lines(reader):
                event = json.loads(line)
                if event.get("type") in {"ADDED", "MODIFIED", "DELETED"}:
                    self.apply_event(event["type"], event.get("object", {}))
                elif event.get("type") == "ERROR":
                    raise RuntimeError(f"watch error: {event.get('object', {}).get('message', '')}")
        finally:
            writer.close()

    async def _connect(self, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        access = self._access
        context = ssl.create_default_context(cafile=str(access.ca_file))
        reader, writer = await asyncio.open_connection(access.host, access.port, ssl=context)
        token = access.token_file.read_text().strip()  # re-read: projected tokens rotate
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {access.host}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/json\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"API server answered {status.decode(errors='replace').strip()}")
        return reader, writer


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers = {}
    while (line := await reader.readline()) not in {b"\r\n", b"\n", b""}:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


async def _read_body(reader: asyncio.StreamReader) -> bytes:
    headers = await _read_headers(reader)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return b"".join([chunk async for chunk in _chunks(reader)])
    return await reader.read()


async def _chunks(reader: asyncio.StreamReader) -> Any:
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        yield await reader.readexactly(size)
        await reader.readline()


async def _chunked_lines(reader: asyncio.StreamReader) -> Any:
    headers = await _read_headers(reader)
    source = (
        _chunks(reader)
        if headers.get("transfer-encoding", "").lower() == "chunked"
        else _raw(reader)
    )
    buffer = b""
    async for chunk in source:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line


async def _raw(reader: asyncio.StreamReader) -> Any:
    while chunk := await reader.read(65536):
        yield chunk
