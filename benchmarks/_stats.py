"""Summaries of latency samples and ratios between systems; pure functions, unit-tested.

Percentiles interpolate linearly between the two nearest ranks (numpy's default "linear"
method), so that p99 of 1,000 samples is not simply the tenth-largest one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class Summary:
    """Latency percentiles in milliseconds and throughput in requests per second."""

    samples: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    throughput_rps: float


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of values sorted ascending, by linear interpolation."""
    if not ordered:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples_ns: Sequence[int], elapsed_ns: int) -> Summary:
    """Summarize per-request latencies measured over ``elapsed_ns`` of wall time."""
    if not samples_ns:
        raise ValueError("no samples to summarize")
    if elapsed_ns <= 0:
        raise ValueError(f"elapsed time must be positive, got {elapsed_ns} ns")
    ordered = sorted(v / NS_PER_MS for v in samples_ns)
    return Summary(
        samples=len(ordered),
        p50_ms=percentile(ordered, 50),
        p90_ms=percentile(ordered, 90),
        p99_ms=percentile(ordered, 99),
        mean_ms=sum(ordered) / len(ordered),
        min_ms=ordered[0],
        max_ms=ordered[-1],
        throughput_rps=len(ordered) * NS_PER_S / elapsed_ns,
    )


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator
