"""The speed and memory to reach (issues 5 and 11, BRIEF "Speed and memory to reach"), and verdicts.

Every target is a ratio measured in the same run: braid against Ray Serve or against the floor,
or braid's p99 against its own p50. A verdict is ``met`` True or False, or None when a side of
the ratio was not measured (then ``note`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from benchmarks._results import BRAID, FLOOR, RAY, Results

#: The tail target: p99 at most this many times p50, on every braid workload.
TAIL_LIMIT = 3.0


class Bound(StrEnum):
    AT_MOST = "<="
    AT_LEAST = ">="


@dataclass(frozen=True)
class Target:
    """braid's ``metric`` on ``workload``, divided by ``baseline``'s, must be within ``limit``."""

    workload: str
    metric: str
    baseline: str
    bound: Bound
    limit: float
    #: The baseline's workload, when it is not ``workload`` (fused-chain-3 against chain-3).
    baseline_workload: str | None = None

    @property
    def text(self) -> str:
        theirs = self.baseline + (f" {self.baseline_workload}" if self.baseline_workload else "")
        return f"{self.workload} {self.metric}: braid/{theirs} {self.bound} {self.limit:g}"


@dataclass(frozen=True)
class Verdict:
    text: str
    value: float | None
    limit: float
    met: bool | None
    note: str = ""


TARGETS: tuple[Target, ...] = (
    Target("chain-3", "p50_ms", RAY, Bound.AT_MOST, 0.15),
    Target("chain-3", "p50_ms", FLOOR, Bound.AT_MOST, 1.3),
    # An in-process call must beat a network hop: co-located, a chain of 3 costs at most half
    # of the floor's plain chain of 3 (decision 0009).
    Target("fused-chain-3", "p50_ms", FLOOR, Bound.AT_MOST, 0.5, baseline_workload="chain-3"),
    Target("fanout-3", "p50_ms", RAY, Bound.AT_MOST, 0.15),
    Target("fanout-3", "p50_ms", FLOOR, Bound.AT_MOST, 1.5),
    # Concurrency costs show at 64 requests in flight, not at one (issue 11).
    Target("chain-3@64", "throughput_rps", FLOOR, Bound.AT_LEAST, 0.7),
    Target("http-chain-3", "throughput_rps", FLOOR, Bound.AT_LEAST, 0.8),
    Target("http-chain-3", "throughput_rps", RAY, Bound.AT_LEAST, 10.0),
    Target("payload-10mb", "p50_ms", RAY, Bound.AT_MOST, 1.0),
    Target("payload-1mb", "p50_ms", RAY, Bound.AT_MOST, 0.5),
    Target("payload-100mb", "p50_ms", RAY, Bound.AT_MOST, 1.0),
    Target("idle-memory", "rss_mb", RAY, Bound.AT_MOST, 0.5),
    # Dynamic batching pays: batches of 32 serve 5x the requests of batches of 1 (issue 12).
    Target("batching-32", "throughput_rps", BRAID, Bound.AT_LEAST, 5.0, "batching-1"),
)


def _within(value: float, bound: Bound, limit: float) -> bool:
    return value <= limit if bound is Bound.AT_MOST else value >= limit


def _judge(target: Target, results: Results) -> Verdict | None:
    row = results.get(target.workload)
    if row is None:
        return None  # the workload was not selected in this run
    mine = row[BRAID].metric(target.metric) if BRAID in row else None
    base = results.get(target.baseline_workload or target.workload) or {}
    theirs = base[target.baseline].metric(target.metric) if target.baseline in base else None
    if mine is None or theirs is None or theirs == 0:
        missing = [name for name, v in ((BRAID, mine), (target.baseline, theirs)) if not v]
        note = f"not measured: {', '.join(missing)}"
        return Verdict(target.text, None, target.limit, None, note)
    value = mine / theirs
    return Verdict(target.text, value, target.limit, _within(value, target.bound, target.limit))


def _tails(results: Results) -> list[Verdict]:
    verdicts = []
    for workload, row in results.items():
        braid = row.get(BRAID)
        p50 = braid.metric("p50_ms") if braid else None
        p99 = braid.metric("p99_ms") if braid else None
        if p50 is None or p99 is None or p50 == 0:
            continue
        value = p99 / p50
        text = f"{workload} tail: braid p99/p50 <= {TAIL_LIMIT:g}"
        verdicts.append(Verdict(text, value, TAIL_LIMIT, value <= TAIL_LIMIT))
    if not verdicts:
        note = "not measured: braid"
        verdicts.append(
            Verdict(f"tail: braid p99/p50 <= {TAIL_LIMIT:g}", None, TAIL_LIMIT, None, note)
        )
    return verdicts


def evaluate(results: Results) -> list[Verdict]:
    """A verdict for each target whose workload ran, then the tail target per braid workload."""
    verdicts = [v for t in TARGETS if (v := _judge(t, results)) is not None]
    return verdicts + _tails(results)
