"""Figures per node for the live graph page, read from the replicas' own Prometheus metrics.

:class:`FigureCollector` scrapes the ``/metrics`` of every ready replica of a graph (the
addresses come from discovery: the peers file under ``braid run``, pod IPs and the sidecar's
metrics port in a cluster), at most once per ``min_interval`` however many pages poll it, and
turns two scrapes into rates:

- ``ready`` and ``desired`` replicas (desired from the spec: ``replicas``, or autoscaling's
  ``minReplicas``);
- requests per second and errors (calls that did not end ``OK``) over the last interval, and the
  totals since the replicas started;
- p50 and p99 latency over the last interval, from the histogram's bucket counts, interpolated
  within a bucket as Prometheus' ``histogram_quantile`` does (over all time when the interval had
  no requests);
- ongoing and queued requests, summed over the replicas.

A replica whose scrape fails is counted as not scraped; the figures never fail as a whole.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from braid.runtime._discovery.peers import Discovery, MetricsDirectory
from braid.spec import DeploymentGraph, host_of

logger = logging.getLogger(__name__)

#: Seconds one scrape of one replica may take.
SCRAPE_TIMEOUT = 1.0
_OK = "OK"


@dataclass
class NodeSample:
    """One node's metrics summed over the replicas scraped at one moment."""

    requests: float = 0.0
    errors: float = 0.0
    #: Cumulative bucket counts by upper bound (``le``), as Prometheus keeps them.
    buckets: dict[float, float] = field(default_factory=dict)
    ongoing: float = 0.0
    queued: float = 0.0
    scraped: int = 0


def parse_metrics(text: str, graph: str) -> dict[str, NodeSample]:
    """The samples of ``graph``'s nodes in one replica's metrics text, by node."""
    found: dict[str, NodeSample] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("graph") != graph or "node" not in labels:
                continue
            node = found.setdefault(labels["node"], NodeSample())
            if sample.name == "braid_requests_total":
                node.requests += sample.value
                if labels.get("code") != _OK:
                    node.errors += sample.value
            elif sample.name == "braid_request_duration_seconds_bucket":
                bound = float(labels["le"])
                node.buckets[bound] = node.buckets.get(bound, 0.0) + sample.value
            elif sample.name == "braid_ongoing_requests":
                node.ongoing += sample.value
            elif sample.name == "braid_queued_requests":
                node.queued += sample.value
    return found


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q`` quantile of cumulative ``buckets`` (``le`` to count); ``None`` with no data.

    Linear within the bucket that holds it, like PromQL's ``histogram_quantile``; a quantile in
    the ``+Inf`` bucket is the largest finite bound.
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def desired_replicas(graph: DeploymentGraph, node: str) -> int:
    """Replicas the spec asks for (a group's members share their group's)."""
    settings = host_of(graph, node).node
    if settings.replicas is not None:
        return settings.replicas
    return settings.autoscaling.min_replicas if settings.autoscaling is not None else 1


async def fetch_metrics(address: str) -> str:
    """The text of ``http://address/metrics`` (a blocking read, in a thread)."""

    def read() -> str:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=SCRAPE_TIMEOUT) as reply:
            body: bytes = reply.read()
        return body.decode("utf-8", errors="replace")

    return await asyncio.to_thread(read)


class FigureCollector:
    """The live figures of one graph's nodes (see the module docstring)."""

    def __init__(
        self,
        graph: DeploymentGraph,
        discovery: Discovery,
        *,
        fetch: Callable[[str], Awaitable[str]] = fetch_metrics,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 1.0,
    ) -> None:
        self.graph = graph
        self.discovery = discovery
        self._fetch = fetch
        self._clock = clock
        self._min_interval = min_interval
        self._last: tuple[float, dict[str, NodeSample]] | None = None
        self._previous: tuple[float, dict[str, NodeSample]] | None = None
        self._figures: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    @property
    def nodes(self) -> list[str]:
        return [node.name for node in self.graph.spec.nodes]

    async def figures(self) -> dict[str, Any]:
        """The figures as JSON-ready data, scraping again if the last scrape is old enough."""
        async with self._lock:
            now = self._clock()
            if (
                self._figures is None
                or self._last is None
                or now - self._last[0] >= self._min_interval
            ):
                samples = await self._scrape()
                self._previous, self._last = self._last, (now, samples)
                self._figures = self._summarise()
            return self._figures

    async def _scrape(self) -> dict[str, NodeSample]:
        addresses: dict[str, None] = {}
        for node in self.nodes:
            for replica in self.discovery.replicas(node):
                address = self._metrics_address(replica)
                if address is not None:
                    addresses[address] = None
        texts = await asyncio.gather(
            *(self._fetch(address) for address in addresses), return_exceptions=True
        )
        samples: dict[str, NodeSample] = {node: NodeSample() for node in self.nodes}
        for address, text in zip(addresses, texts, strict=True):
            if isinstance(text, BaseException):
                logger.debug("graph page: no metrics from %s: %s", address, text)
                continue
            try:
                parsed = parse_metrics(text, self.graph.metadata.name)
            except ValueError as exc:
                logger.debug("graph page: unreadable metrics from %s: %s", address, exc)
                continue
            for node, sample in parsed.items():
                if node in samples:
                    _add(samples[node], sample)
        return samples

    def _metrics_address(self, replica: str) -> str | None:
        if isinstance(self.discovery, MetricsDirectory):
            return self.discovery.metrics_address(replica)
        return None

    def _summarise(self) -> dict[str, Any]:
        assert self._last is not None
        now, samples = self._last
        before, earlier = self._previous if self._previous is not None else (now, {})
        elapsed = now - before
        nodes = {}
        for node in self.nodes:
            sample, old = samples[node], earlier.get(node, NodeSample())
            window = _delta(sample.buckets, old.buckets) if elapsed > 0 else {}
            recent = window if _total(window) > 0 else sample.buckets
            nodes[node] = {
                "ready": len(self.discovery.replicas(node)),
                "desired": desired_replicas(self.graph, node),
                "scraped": sample.scraped,
                "requests": sample.requests,
                "errors": sample.errors,
                "requestsPerSecond": _rate(sample.requests - old.requests, elapsed),
                "errorsPerSecond": _rate(sample.errors - old.errors, elapsed),
                "p50Ms": _milliseconds(quantile(0.5, recent)),
                "p99Ms": _milliseconds(quantile(0.99, recent)),
                "ongoing": sample.ongoing,
                "queued": sample.queued,
            }
        return {"graph": self.graph.metadata.name, "intervalSeconds": elapsed, "nodes": nodes}


def _add(total: NodeSample, more: NodeSample) -> None:
    total.requests += more.requests
    total.errors += more.errors
    for bound, count in more.buckets.items():
        total.buckets[bound] = total.buckets.get(bound, 0.0) + count
    total.ongoing += more.ongoing
    total.queued += more.queued
    total.scraped += 1


def _delta(now: Mapping[float, float], before: Mapping[float, float]) -> dict[float, float]:
    """Bucket counts added since ``before`` (a restarted replica's counts start again: clamp)."""
    return {bound: max(0.0, count - before.get(bound, 0.0)) for bound, count in now.items()}


def _total(buckets: Mapping[float, float]) -> float:
    return max(buckets.values(), default=0.0)


def _rate(delta: float, elapsed: float) -> float:
    return max(0.0, delta) / elapsed if elapsed > 0 else 0.0


def _milliseconds(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
