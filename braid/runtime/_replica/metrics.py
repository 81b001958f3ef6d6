"""Prometheus metrics of a sidecar, in a registry of its own (no global state).

Per node, method and step: requests by outcome, latency, time in user code, time waiting for
upstream values, and braid's own overhead (the rest); per node: requests running and queued
(``braid_ongoing_requests`` is also the autoscaling metric), rejections, calls stuck in sync code
past their deadline, and the result store.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from braid.runtime._wire.latency import LATENCY_BUCKETS


class SidecarMetrics:
    """The metrics one sidecar exports."""

    def __init__(self, registry: CollectorRegistry, graph: str, node: str) -> None:
        self.registry = registry
        self.graph, self.node = graph, node
        labels = ("graph", "node", "method", "step")
        self.requests = Counter(
            "braid_requests",
            "Calls served, by outcome (a gRPC code name).",
            (*labels, "code"),
            registry=registry,
        )
        self.latency = Histogram(
            "braid_request_duration_seconds",
            "Time from arrival to reply.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.user_code = Histogram(
            "braid_user_code_seconds",
            "Time spent in the node's own code.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.upstream_wait = Histogram(
            "braid_upstream_wait_seconds",
            "Time waiting for upstream values (peer fetches).",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.overhead = Histogram(
            "braid_overhead_seconds",
            "Time spent in braid itself: the latency minus user code and upstream waits.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.ongoing = Gauge(
            "braid_ongoing_requests",
            "Requests running in user code.",
            ("graph", "node"),
            registry=registry,
        )
        self.queued = Gauge(
            "braid_queued_requests",
            "Requests admitted and waiting for inputs or a slot.",
            ("graph", "node"),
            registry=registry,
        )
        self.stuck = Gauge(
            "braid_stuck_calls",
            "Sync calls still running in a thread after their caller gave up (deadline).",
            ("graph", "node"),
            registry=registry,
        )
        self.rejected = Counter(
            "braid_rejected_requests",
            "Requests shed because the queue was full.",
            ("graph", "node"),
            registry=registry,
        )
        self.degraded = Counter(
            "braid_degraded_steps",
            "Steps that answered with their fallback (reason fallback) or that a quorum join "
            "went on without (reason missing), by the node that decided it.",
            ("graph", "node", "step", "reason"),
            registry=registry,
        )
        self.retries = Counter(
            "braid_step_retries",
            "Attempts of a step after its first, sent to another replica where possible.",
            ("graph", "node", "step"),
            registry=registry,
        )
        self.shared_memory_fallbacks = Counter(
            "braid_shared_memory_fallbacks",
            "Large buffers sent over the wire because shared memory was full or unusable.",
            registry=registry,
        )
        self.store_bytes = Gauge(
            "braid_result_store_bytes", "Bytes of results held for consumers.", registry=registry
        )
        self.store_entries = Gauge(
            "braid_result_store_entries", "Results held for consumers.", registry=registry
        )


def serve_metrics(
    host: str, port: int, registry: CollectorRegistry, *, reuse_port: bool = False
) -> None:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread.

    ``reuse_port`` shares the port with the launcher's reservation (``braid run`` binds each
    port first and hands it over). A busy port is an :class:`OSError` that names it.
    """

    class Server(ThreadingWSGIServer):
        allow_reuse_port = reuse_port

    try:
        server = make_server(host, port, make_wsgi_app(registry), Server, handler_class=_Quiet)
    except OSError as exc:
        raise OSError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
    threading.Thread(target=server.serve_forever, name="braid-metrics", daemon=True).start()


class _Quiet(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: object) -> None:
        return None


def metrics_host(listen: str) -> str:
    """Where metrics listen: the host of the gRPC address (``127.0.0.1`` under ``braid run``,
    every interface in a pod that listens on ``0.0.0.0``); every interface for a Unix socket."""
    if listen.startswith("unix:"):
        return "0.0.0.0"  # noqa: S104 - a pod's worker: Prometheus scrapes the pod's IP
    host = listen.rpartition(":")[0].strip("[]")
    return host or "0.0.0.0"  # noqa: S104 - ":PORT" means every interface, as for gRPC
