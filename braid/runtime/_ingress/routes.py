"""The ingress's table of graphs: route prefixes, names, deadlines and size limits.

One ingress may serve several graphs (``braid run a.yaml b.yaml``). Each graph is a
:class:`GraphRoute`: its planned flow and runner, its discovery, its route prefix and its request
limits. :class:`RouteTable` finds the graph of an HTTP path by the longest route prefix that
matches on a segment boundary (``/content`` matches ``/content`` and ``/content/x`` but not
``/contents``), as Ray Serve does, and the graph of a gRPC request by name.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

from braid.runtime._discovery.peers import Discovery
from braid.runtime._flow.running import FlowRunner
from braid.runtime._wire.errors import BadRequest, BraidRuntimeError
from braid.runtime._wire.holding import buffers_of
from braid.spec import DeploymentGraph, parse_quantity


class IngressConfigError(BraidRuntimeError):
    """Graphs that one ingress cannot serve together (a shared route prefix or name)."""


@dataclass(frozen=True, slots=True)
class GraphRoute:
    """One graph served by the ingress."""

    graph: DeploymentGraph
    runner: FlowRunner
    discovery: Discovery

    @property
    def name(self) -> str:
        return self.graph.metadata.name

    @property
    def prefix(self) -> str:
        return self.graph.spec.ingress.http.route_prefix

    @property
    def timeout(self) -> float:
        return self.graph.spec.ingress.request_timeout_seconds

    @property
    def max_request_bytes(self) -> int:
        return _bytes_of(self.graph.spec.ingress.max_request_bytes)

    @property
    def max_timeout(self) -> float:
        """The longest deadline a client may ask for (never below the default)."""
        ingress = self.graph.spec.ingress
        return max(ingress.max_request_timeout_seconds or 0.0, ingress.request_timeout_seconds)

    def deadline(self, requested: float | None, *, now: float | None = None) -> float:
        """The request's absolute deadline: the graph's timeout when the client asks for none,
        else what it asks for, up to ``maxRequestTimeoutSeconds``."""
        timeout = self.timeout if requested is None else min(self.max_timeout, requested)
        return (time.monotonic() if now is None else now) + timeout

    def missing_nodes(self) -> list[str]:
        """Nodes of the graph with no ready replica (a node that scales to zero may have none:
        its replica starts on demand)."""
        waking = {n for n, buffer in buffers_of(self.graph).items() if buffer.wait_seconds is None}
        return [
            node.name
            for node in self.graph.spec.nodes
            if node.name not in waking and not self.discovery.replicas(node.name)
        ]


@functools.lru_cache(maxsize=64)
def _bytes_of(quantity: str) -> int:
    """A size quantity in bytes, parsed once (the HTTP ingress asks on every request)."""
    return int(parse_quantity(quantity))


def parse_timeout(text: str) -> float:
    """A client-supplied timeout in seconds; :class:`BadRequest` when it is not one."""
    try:
        seconds = float(text)
    except ValueError:
        raise BadRequest(f"timeout {text[:40]!r} is not a number of seconds") from None
    if not seconds > 0 or seconds == float("inf"):
        raise BadRequest(f"timeout {text[:40]!r} must be a positive number of seconds")
    return seconds


#: The request header (HTTP) and metadata key (gRPC) naming the model of a multiplexed node.
MODEL_ID_HEADER = "braid-model-id"
#: The longest model id: a name or a path, never a payload.
MAX_MODEL_ID_LENGTH = 256


def parse_model_id(text: str | None) -> str:
    """A client-supplied model id ("" for none); :class:`BadRequest` when it is not one."""
    if not text:
        return ""
    if len(text) > MAX_MODEL_ID_LENGTH or not text.isprintable():
        raise BadRequest(
            f"the {MODEL_ID_HEADER} value must be printable text of at most "
            f"{MAX_MODEL_ID_LENGTH} characters"
        )
    return text


class RouteTable:
    """The graphs of one ingress, by route prefix and by name."""

    def __init__(self, routes: Sequence[GraphRoute]) -> None:
        check_servable([route.graph for route in routes])
        self.routes = tuple(routes)
        # Longest first, so that the first match is the longest prefix.
        self._by_prefix = sorted(
            ((_normalise(route.prefix), route) for route in routes),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self._by_name = {route.name: route for route in routes}

    def match(self, path: str) -> GraphRoute | None:
        """The graph whose route prefix is the longest to match ``path``."""
        for prefix, route in self._by_prefix:
            if prefix in ("/", path) or path.startswith(prefix + "/"):
                return route
        return None

    def by_name(self, name: str) -> GraphRoute | None:
        """The graph called ``name``; an empty name means the only graph, if there is one."""
        if not name:
            return self.routes[0] if len(self.routes) == 1 else None
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return [route.name for route in self.routes]

    def missing_nodes(self) -> list[str]:
        """``graph/node`` for every node without a ready replica, over all graphs."""
        return [f"{route.name}/{node}" for route in self.routes for node in route.missing_nodes()]


def check_servable(graphs: Sequence[DeploymentGraph]) -> None:
    """Raise :class:`IngressConfigError` unless one ingress can serve ``graphs`` together."""
    if not graphs:
        raise IngressConfigError("the ingress needs at least one graph to serve")
    prefixes: dict[str, str] = {}
    names: set[str] = set()
    for graph in graphs:
        name, route = graph.metadata.name, graph.spec.ingress.http.route_prefix
        prefix = _normalise(route)
        if prefix in prefixes:
            raise IngressConfigError(
                f'graphs "{prefixes[prefix]}" and "{name}" both use the route prefix "{route}"; '
                "give one of them another spec.ingress.http.routePrefix"
            )
        if name in names:
            raise IngressConfigError(f'two graphs are named "{name}"; graph names must be unique')
        prefixes[prefix] = name
        names.add(name)


def _normalise(prefix: str) -> str:
    return prefix.rstrip("/") or "/"
