"""Prometheus metrics of the ingress, in a registry of its own (no global state).

Per graph, protocol (``http``/``grpc``) and status (an HTTP status, or a gRPC code name):
requests and a latency histogram; per graph, protocol and error kind: errors (including those
that end a stream midway); per graph and protocol: requests in flight; per graph, split step and
call: the requests each case of a weighted split got. They are served on a
separate port (``--metrics-port``) so that scraping never competes with the API's routes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from braid.runtime._wire.latency import LATENCY_BUCKETS


class IngressMetrics:
    """The metrics one ingress exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "braid_ingress_requests",
            "Graph requests answered, by status (HTTP status or gRPC code name).",
            ("graph", "protocol", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "braid_ingress_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            ("graph", "protocol", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.shared_memory_fallbacks = Counter(
            "braid_shared_memory_fallbacks",
            "Large buffers sent over the wire because shared memory was full or unusable.",
            registry=self.registry,
        )
        self.errors = Counter(
            "braid_ingress_errors",
            "Failed graph requests, by error kind (also those that fail a stream midway).",
            ("graph", "protocol", "kind"),
            registry=self.registry,
        )
        self.split_choices = Counter(
            "braid_split_choices",
            "Requests sent to each case of a weighted split step, by its call (node.method).",
            ("graph", "step", "call"),
            registry=self.registry,
        )
        self._in_flight: dict[tuple[str, str], Any] = {}
        self._outcomes: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self.in_flight = Gauge(
            "braid_ingress_in_flight_requests",
            "Graph requests being answered now.",
            ("graph", "protocol"),
            registry=self.registry,
        )

    @contextlib.contextmanager
    def tracking(self, graph: str, protocol: str) -> Iterator[None]:
        key = (graph, protocol)
        gauge = self._in_flight.get(key)
        if gauge is None:  # a child per label set, looked up once: labels() takes a lock
            gauge = self._in_flight[key] = self.in_flight.labels(graph, protocol)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def observe(self, graph: str, protocol: str, status: str, seconds: float) -> None:
        key = (graph, protocol, status)
        children = self._outcomes.get(key)
        if children is None:
            children = self._outcomes[key] = (
                self.requests.labels(graph, protocol, status),
                self.latency.labels(graph, protocol, status),
            )
        children[0].inc()
        children[1].observe(seconds)

    def error(self, graph: str, protocol: str, kind: str) -> None:
        self.errors.labels(graph, protocol, kind).inc()

    def split(self, graph: str, step: str, call: str) -> None:
        """A split step chose ``call`` for one request."""
        self.split_choices.labels(graph, step, call).inc()
