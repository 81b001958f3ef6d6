"""An emulated API server for the EndpointSlice watch: kmock's emulator plus what a watch needs.

kmock 0.8's ``KubernetesEmulator`` ignores selectors, resourceVersions and timeouts, and every
watch replays all objects as ADDED (TESTING.md). :class:`EndpointSliceApi` serves EndpointSlices
the way kube-apiserver does, and lets a test drive what the API server and the EndpointSlice
controller would do:

- lists and watches honour ``labelSelector`` (equality and existence terms) and the namespace;
  a list carries the current ``resourceVersion``; every write bumps it;
- a watch from version V sends the changes after V, then follows new ones; with
  ``allowWatchBookmarks`` it gets BOOKMARK events on :meth:`bookmark`;
- :meth:`end_watches` ends open watches normally, as ``timeoutSeconds`` does;
- :meth:`compact` drops the history (etcd compaction): open watches get an ERROR event with code
  410, or end and then have their resumption answered 410 Gone; changes made just before are
  never delivered to them;
- :meth:`outage` ends open watches and answers the next requests 503, with the message of a
  restarting API server.

Writes go through :meth:`put` and :meth:`delete` (the EndpointSlice controller's part), into
kmock's object store, so ``server.objects`` and the recorded requests work as usual.
:func:`controller_slice` builds a slice from a Service the operator rendered, as the controller
does: the Service's labels copied, plus ``kubernetes.io/service-name``, ``managed-by`` and
``headless``, and the Service's port names with the pods' port numbers.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
from kmock._internal import enums, rendering

from braid.operator import OperatorSettings, render
from braid.operator._labels import INGRESS_GRPC_PORT, INGRESS_HTTP_PORT, METRICS_PORT, SIDECAR_PORT
from braid.runtime._discovery.endpointslices import KubernetesDiscovery
from braid.spec import load_graph

ENDPOINTSLICES = "discovery.k8s.io/v1/endpointslices"
NAMESPACE = "braid-test"
CONTROLLER = "endpointslice-controller.k8s.io"
#: What kube-apiserver answers while it starts, before its HTTP paths are installed.
STARTING_MESSAGE = "the request has been made before all known HTTP paths have been installed"
#: Labels the controller sets itself and never copies from the Service.
RESERVED_LABELS = (
    "kubernetes.io/service-name",
    "endpointslice.kubernetes.io/managed-by",
    "service.kubernetes.io/headless",
)


EXAMPLE = Path(__file__).parents[3] / "examples" / "chain" / "graph.yaml"
GRAPH = "chain"
#: The pods' container ports by name, which the slices carry (the Services target them by name).
NODE_PORTS = {"grpc": SIDECAR_PORT}
INGRESS_PORTS = {"http": INGRESS_HTTP_PORT, "grpc": INGRESS_GRPC_PORT, "metrics": METRICS_PORT}


def rendered_services() -> dict[str, dict[str, Any]]:
    """The Services the operator renders for examples/chain, by name."""
    loaded = load_graph(EXAMPLE)
    graph = loaded.model_copy(
        update={"metadata": loaded.metadata.model_copy(update={"namespace": NAMESPACE})}
    )
    return {
        obj["metadata"]["name"]: obj
        for obj in render(graph, OperatorSettings())
        if obj["kind"] == "Service"
    }


def controller_slice(
    service: Mapping[str, Any],
    suffix: str,
    endpoints: Mapping[str, Mapping[str, bool]],
    container_ports: Mapping[str, int],
    address_type: str = "IPv4",
) -> dict[str, Any]:
    """The EndpointSlice the controller writes for ``service``: ``{ip: conditions}``."""
    meta = service["metadata"]
    labels = {k: v for k, v in meta.get("labels", {}).items() if k not in RESERVED_LABELS}
    labels["kubernetes.io/service-name"] = meta["name"]
    labels["endpointslice.kubernetes.io/managed-by"] = CONTROLLER
    if service["spec"].get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{meta['name']}-{suffix}", "namespace": NAMESPACE, "labels": labels},
        "addressType": address_type,
        "ports": [
            {"name": port["name"], "port": container_ports[port["name"]], "protocol": "TCP"}
            for port in service["spec"]["ports"]
        ],
        "endpoints": [
            {
                "addresses": [address],
                "conditions": dict(conditions),
                "nodeName": "worker-1",
                "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": f"pod-{address}"},
            }
            for address, conditions in endpoints.items()
        ],
    }


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """An equality-based label selector (``a=b,c!=d,e,!f``), as the API server reads it."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class _Watch:
    namespace: str | None
    selector: str
    bookmarks: bool
    transport: Any
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)

    def wants(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        in_namespace = self.namespace is None or meta.get("namespace") == self.namespace
        return in_namespace and selector_matches(self.selector, meta.get("labels", {}))


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class EndpointSliceApi(kmock.KubernetesEmulator):
    """kmock's emulator serving EndpointSlices with versions, selectors, expiry and outages."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.resources[ENDPOINTSLICES] = kmock.ResourceInfo(
            kind="EndpointSlice",
            namespaced=True,
            verbs=["get", "list", "watch", "create", "update", "patch", "delete"],
        )
        self._slice_resource = kmock.resource(ENDPOINTSLICES)
        self._counter = itertools.count(100)
        self.version = 0
        self._history: list[tuple[int, str, dict[str, Any]]] = []
        self._compacted = 0
        self._expired_as_response = False
        self._unavailable = 0
        self._watches: list[_Watch] = []
        #: A misbehaving proxy: every watch ends as soon as it starts, without an event.
        self.end_watches_at_once = False

    # The EndpointSlice controller's writes.

    def put(self, endpoint_slice: Mapping[str, Any]) -> int:
        """Create or replace a slice; its new resourceVersion."""
        obj = copy.deepcopy(dict(endpoint_slice))
        meta = obj["metadata"]
        key = (self._slice_resource, meta["namespace"], meta["name"])
        exists = key in self.objects and not self.objects[key].deleted
        meta["uid"] = self.objects[key]["metadata"]["uid"] if exists else str(uuid.uuid4())
        version = self._bump(obj)
        if key in self.objects:
            self.objects[key].create(obj)
        else:
            self.objects[key] = obj
        self._publish(version, "MODIFIED" if exists else "ADDED", obj)
        return version

    def delete(self, name: str, namespace: str = NAMESPACE) -> int:
        key = (self._slice_resource, namespace, name)
        obj = copy.deepcopy(self.objects[key].raw)
        version = self._bump(obj)
        self.objects[key].delete()
        self._publish(version, "DELETED", obj)
        return version

    # The API server's own doings.

    async def watch_open(self, seconds: float = 10.0) -> None:
        """Wait until a watch is open (bounded), so that what follows happens during it."""
        await eventually(lambda: self._watches, seconds)

    def bookmark(self) -> int:
        """Send a BOOKMARK at the current version to every watch that allows them."""
        for watch in self._watches:
            watch.queue.put_nowait(("bookmark", self.version))
        return self.version

    def end_watches(self) -> None:
        """End every open watch normally, as when its timeoutSeconds elapse."""
        for watch in self._watches:
            watch.queue.put_nowait(("end", None))

    def compact(self, *, as_response: bool = False) -> None:
        """Forget the history up to now: a watch from an older version is told 410 Gone.

        Open watches lose what they have not been sent yet and get an ERROR event with code 410
        (the watch cache's "too old resource version"), or, ``as_response``, end and have their
        resumption answered with a 410 response.
        """
        self._compacted = self.version
        self._expired_as_response = as_response
        for watch in self._watches:
            while not watch.queue.empty():
                watch.queue.get_nowait()
            watch.queue.put_nowait(("end", None) if as_response else ("expired", self.version))

    def outage(self, requests: int) -> None:
        """A restart: open watches break off and the next ``requests`` requests get 503."""
        self._unavailable = requests
        for watch in self._watches:
            if watch.transport is not None:
                watch.transport.abort()  # the process is gone: no end to the chunked stream
        self.end_watches()

    # Serving.

    def _serve_list(self, request: rendering.Request) -> Any:
        if request.resource != self._slice_resource:
            return super()._serve_list(request)
        selector = request.params.get("labelSelector", "")
        items = [
            obj.raw
            for (resource, namespace, _), obj in self.objects.items()
            if resource == self._slice_resource and not obj.deleted
            if request.namespace in (None, namespace)
            if selector_matches(selector, obj.raw["metadata"].get("labels", {}))
        ]
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSliceList",
            "metadata": {"resourceVersion": str(self.version)},
            "items": items,
        }

    def _serve_watch(self, request: rendering.Request) -> Any:
        if request.resource != self._slice_resource:
            return super()._serve_watch(request)
        since = request.params.get("resourceVersion", "")
        watch = _Watch(
            namespace=request.namespace,
            selector=request.params.get("labelSelector", ""),
            bookmarks=request.params.get("allowWatchBookmarks") == "true",
            transport=request._raw_request.transport if request._raw_request else None,
        )
        if since not in {"", "0"} and int(since) < self._compacted:
            watch.queue.put_nowait(("expired", self._compacted))
            return self._stream(watch, [])
        if since in {"", "0"}:  # start at the current state: every object as ADDED
            backlog = [
                ("ADDED", obj.raw)
                for (resource, _, _), obj in self.objects.items()
                if resource == self._slice_resource and not obj.deleted
            ]
        else:
            backlog = [(kind, obj) for version, kind, obj in self._history if version > int(since)]
        self._watches.append(watch)
        return self._stream(watch, backlog)

    async def _stream(
        self, watch: _Watch, backlog: list[tuple[str, dict[str, Any]]]
    ) -> AsyncIterator[Any]:
        try:
            yield b""  # kmock sends the headers with the first chunk
            if self.end_watches_at_once:
                return
            for kind, obj in backlog:
                if watch.wants(obj):
                    yield {"type": kind, "object": obj}
            while True:
                what, value = await watch.queue.get()
                if what == "end":
                    return
                if what == "expired":
                    message = f"too old resource version: {value}"
                    yield {"type": "ERROR", "object": _status(410, "Expired", message)}
                    return
                if what == "bookmark" and watch.bookmarks:
                    meta = {"resourceVersion": str(value)}
                    yield {
                        "type": "BOOKMARK",
                        "object": {
                            "apiVersion": "discovery.k8s.io/v1",
                            "kind": "EndpointSlice",
                            "metadata": meta,
                        },
                    }
                elif what == "event" and watch.wants(value[1]):
                    yield {"type": value[0], "object": value[1]}
        finally:
            if watch in self._watches:
                self._watches.remove(watch)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """503s and 410 responses are answered here, before kmock's fallbacks: a fallback that
        returns a ``Response`` with a status sets that status on the shared reaction, so every
        later answer of kmock 0.8 would carry it too."""
        if request.resource == self._slice_resource and request.action in {
            enums.action.LIST,
            enums.action.WATCH,
        }:
            if self._unavailable:
                self._unavailable -= 1
                status = _status(503, "ServiceUnavailable", STARTING_MESSAGE)
                return aiohttp.web.json_response(status, status=503)
            since = request.params.get("resourceVersion", "")
            expired = since not in {"", "0"} and int(since) < self._compacted
            if request.action == enums.action.WATCH and expired and self._expired_as_response:
                message = f"too old resource version: {since} ({self._compacted})"
                return aiohttp.web.json_response(_status(410, "Gone", message), status=410)
        return await super()._handle(request)

    def _bump(self, obj: dict[str, Any]) -> int:
        self.version = next(self._counter)
        obj["metadata"]["resourceVersion"] = str(self.version)
        return self.version

    def _publish(self, version: int, kind: str, obj: dict[str, Any]) -> None:
        self._history.append((version, kind, copy.deepcopy(obj)))
        for watch in self._watches:
            watch.queue.put_nowait(("event", (kind, copy.deepcopy(obj))))

    def requests_to_slices(self) -> list[tuple[str, str]]:
        """Every list and watch of EndpointSlices so far: (action, resourceVersion asked)."""
        return [
            (str(r.action.value).lower(), r.params.get("resourceVersion", ""))
            for r in self
            if r.resource == self._slice_resource
        ]


StartDiscovery = Callable[[], Awaitable[KubernetesDiscovery]]


class Clock:
    """The backoff's sleep: records each delay and the peers discovery had while it waited."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.peers_meanwhile: list[dict[str, tuple[str, ...]]] = []
        self.discovery: KubernetesDiscovery | None = None

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        if self.discovery is not None:
            nodes = ("adder", "multiplier")
            self.peers_meanwhile.append({n: tuple(self.discovery.replicas(n)) for n in nodes})
        await asyncio.sleep(0)


async def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy (bounded: not a timing assert)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not (result := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {seconds} s: {check}")
        await asyncio.sleep(0.02)
    return result
