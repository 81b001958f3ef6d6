"""The live page's figures: parsing a sidecar's real metrics text, quantiles, rates, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from braid.runtime._ingress.figures import (
    FigureCollector,
    desired_replicas,
    parse_metrics,
    quantile,
)
from braid.runtime._replica.metrics import SidecarMetrics
from braid.spec import validate_graph


def _graph() -> dict[str, object]:
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": [
                {"name": "a", "class": "m:A", "replicas": 2},
                {"name": "b", "class": "m:B", "autoscaling": {"minReplicas": 3, "maxReplicas": 5}},
                {"name": "c", "class": "m:C"},
            ],
            "flow": {
                "steps": [
                    {"name": "x", "call": "a.run", "args": ["$input"]},
                    {"name": "y", "call": "b.run", "args": ["$x"]},
                    {"name": "z", "call": "c.run", "args": ["$y"]},
                ],
                "output": "$z",
            },
        },
    }


def _metrics_text(
    node: str, *, ok: int, failed: int, seconds: Sequence[float], ongoing: int
) -> str:
    """A sidecar's metrics, made by braid's own SidecarMetrics in a registry of its own."""
    registry = CollectorRegistry()
    metrics = SidecarMetrics(registry, "g", node)
    metrics.requests.labels("g", node, "run", "x", "OK").inc(ok)
    metrics.requests.labels("g", node, "run", "x", "INTERNAL").inc(failed)
    for value in seconds:
        metrics.latency.labels("g", node, "run", "x").observe(value)
    metrics.ongoing.labels("g", node).set(ongoing)
    metrics.queued.labels("g", node).set(1)
    other = SidecarMetrics(CollectorRegistry(), "other-graph", node)  # never counted for "g"
    other.requests.labels("other-graph", node, "run", "x", "OK").inc(100)
    return generate_latest(registry).decode() + generate_latest(other.registry).decode()


def test_a_sidecars_metrics_are_parsed_by_node_for_this_graph_only() -> None:
    text = _metrics_text("a", ok=7, failed=3, seconds=[0.001] * 9 + [0.4], ongoing=2)
    ((node, sample),) = parse_metrics(text, "g").items()
    assert node == "a"
    assert (sample.requests, sample.errors, sample.ongoing, sample.queued) == (10, 3, 2, 1)
    assert sample.buckets[float("inf")] == 10


def test_quantiles_interpolate_within_a_bucket_like_histogram_quantile() -> None:
    buckets = {0.1: 50.0, 0.2: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.15)
    assert quantile(0.25, buckets) == pytest.approx(0.05)
    assert quantile(0.99, {0.1: 0.0, 0.2: 0.0, float("inf"): 5.0}) == 0.2  # in +Inf: largest bound
    assert quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None
    assert quantile(0.5, {}) is None


def test_desired_replicas_come_from_replicas_autoscaling_or_the_default() -> None:
    graph = validate_graph(_graph())
    assert [desired_replicas(graph, n) for n in ("a", "b", "c")] == [2, 3, 1]


class _Peers:
    def __init__(self) -> None:
        self.peers = {"a": ["10.0.0.1:7000", "10.0.0.2:7000"], "b": ["10.0.0.3:7000"], "c": []}

    def replicas(self, node: str) -> list[str]:
        return self.peers[node]

    def metrics_address(self, replica: str) -> str | None:
        return replica.replace(":7000", ":9090")

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def test_the_collector_turns_two_scrapes_into_rates_and_counts_failed_scrapes() -> None:
    texts = {
        "10.0.0.1:9090": _metrics_text("a", ok=10, failed=0, seconds=[0.01] * 10, ongoing=1),
        "10.0.0.2:9090": _metrics_text("a", ok=10, failed=0, seconds=[0.01] * 10, ongoing=0),
    }
    fetched: list[str] = []

    async def fetch(address: str) -> str:
        fetched.append(address)
        if address not in texts:
            raise OSError("connection refused")
        return texts[address]

    now = [100.0]
    collector = FigureCollector(
        validate_graph(_graph()), _Peers(), fetch=fetch, clock=lambda: now[0]
    )

    async def scenario() -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
        first = await collector.figures()
        now[0] += 0.5
        cached = await collector.figures()  # within min_interval: no new scrape
        texts["10.0.0.1:9090"] = _metrics_text(
            "a", ok=30, failed=2, seconds=[0.01] * 10 + [0.3] * 22, ongoing=3
        )
        now[0] += 1.5
        second = await collector.figures()
        return first, cached, second

    first, cached, second = asyncio.run(scenario())
    assert cached is first
    assert sorted(fetched) == sorted(["10.0.0.1:9090", "10.0.0.2:9090", "10.0.0.3:9090"] * 2)
    a, b, c = (second["nodes"][n] for n in ("a", "b", "c"))  # type: ignore[index]
    assert (a["ready"], a["desired"], a["scraped"]) == (2, 2, 2)
    assert (a["requests"], a["errors"], a["ongoing"]) == (42, 2, 3)
    assert a["requestsPerSecond"] == pytest.approx(22 / 2.0)
    assert a["errorsPerSecond"] == pytest.approx(2 / 2.0)
    assert 250 <= a["p50Ms"] <= 500  # the interval's 22 slow calls, not all time's fast ones
    assert (b["ready"], b["desired"], b["scraped"], b["requests"]) == (1, 3, 0, 0)  # scrape failed
    assert b["p50Ms"] is None
    assert (c["ready"], c["desired"]) == (0, 1)
    first_a = first["nodes"]["a"]  # type: ignore[index]
    assert first_a["requestsPerSecond"] == 0 and first_a["p50Ms"] == pytest.approx(7.5, rel=0.5)
