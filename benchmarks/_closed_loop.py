"""The closed-loop latency measurement shared by every client (standard library only).

One request in flight: warm up, then time each call with ``time.perf_counter_ns`` until the
request count or the time budget runs out. The Ray Serve driver runs in its own virtualenv and
imports this module too, so it must never import anything outside the standard library.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypedDict


class Samples(TypedDict):
    """What a client prints as one JSON line: per-request latencies and the wall time."""

    samples_ns: list[int]
    elapsed_ns: int


async def closed_loop(
    call: Callable[[], Awaitable[object]], requests: int, warmup: int, budget_s: float
) -> Samples:
    """Run ``call`` ``warmup`` times untimed, then up to ``requests`` timed calls in sequence.

    The timed phase stops early once ``budget_s`` seconds have passed, so that a slow system
    cannot stretch the whole run; the caller sees how many samples it got.
    """
    for _ in range(warmup):
        await call()
    samples: list[int] = []
    start = time.perf_counter_ns()
    deadline = start + int(budget_s * 1e9)
    for _ in range(requests):
        begin = time.perf_counter_ns()
        await call()
        end = time.perf_counter_ns()
        samples.append(end - begin)
        if end > deadline:
            break
    return {"samples_ns": samples, "elapsed_ns": time.perf_counter_ns() - start}
