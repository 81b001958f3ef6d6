"""The closed-loop latency measurement shared by every client (standard library only).

``in_flight`` callers loop at once (one by default): each sends a request, waits for its reply
and sends the next, so that exactly ``in_flight`` requests are in flight until the request
count or the time budget runs out. After an untimed warm-up, each call is timed with
``time.perf_counter_ns``. At one in flight this measures latency; at 8 or 64 it measures how
much throughput a system gets out of its cores, and what concurrency does to its tail. The Ray
Serve driver runs in its own virtualenv and imports this module too, so it must never import
anything outside the standard library.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypedDict


class Meter(Protocol):
    """Something measured over the timed phase only, such as the CPU time of the system."""

    def start(self) -> None: ...

    def stop(self) -> float: ...


class Samples(TypedDict):
    """What a client prints as one JSON line: per-request latencies and the wall time."""

    samples_ns: list[int]
    elapsed_ns: int
    #: Untimed requests sent before the timed ones (for the CPU time per request).
    warmup: int
    in_flight: int
    #: CPU seconds of the system under test over the timed phase, when a meter was given.
    cpu_s: float | None


def shares(total: int, callers: int) -> list[int]:
    """``total`` requests split between ``callers`` as evenly as possible (pure)."""
    if callers < 1:
        raise ValueError(f"at least one request must be in flight, got {callers}")
    base, extra = divmod(max(total, 0), callers)
    return [base + (1 if index < extra else 0) for index in range(callers)]


async def closed_loop(
    call: Callable[[], Awaitable[object]],
    requests: int,
    warmup: int,
    budget_s: float,
    in_flight: int = 1,
    meter: Meter | None = None,
) -> Samples:
    """Run ``call`` ``warmup`` times untimed, then up to ``requests`` timed calls, always with
    ``in_flight`` of them outstanding.

    The timed phase stops early once ``budget_s`` seconds have passed, so that a slow system
    cannot stretch the whole run; the caller sees how many samples it got. The warm-up sends at
    least one request per caller, so that every connection is open before the timing starts.
    ``meter`` is started and stopped around the timed phase.
    """
    warmup = max(warmup, in_flight) if in_flight > 1 else warmup

    async def untimed(count: int) -> None:
        for _ in range(count):
            await call()

    await asyncio.gather(*(untimed(n) for n in shares(warmup, in_flight)))
    samples: list[int] = []
    if meter is not None:
        meter.start()
    start = time.perf_counter_ns()
    deadline = start + int(budget_s * 1e9)

    async def timed(count: int) -> None:
        for _ in range(count):
            begin = time.perf_counter_ns()
            await call()
            end = time.perf_counter_ns()
            samples.append(end - begin)
            if end > deadline:
                break

    await asyncio.gather(*(timed(n) for n in shares(requests, in_flight)))
    elapsed = time.perf_counter_ns() - start
    return {
        "samples_ns": samples,
        "elapsed_ns": elapsed,
        "warmup": warmup,
        "in_flight": in_flight,
        "cpu_s": meter.stop() if meter is not None else None,
    }
