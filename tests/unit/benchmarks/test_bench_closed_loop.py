"""benchmarks._closed_loop: requests split between callers, and N requests kept in flight."""

import asyncio

import pytest

from benchmarks._closed_loop import closed_loop, shares


def test_shares_split_requests_as_evenly_as_possible() -> None:
    assert shares(10, 3) == [4, 3, 3]
    assert shares(2, 4) == [1, 1, 0, 0]
    assert sum(shares(1000, 64)) == 1000
    with pytest.raises(ValueError, match="at least one request"):
        shares(10, 0)


class _Recorder:
    """A fake call that counts calls and the most it saw in flight at once."""

    def __init__(self) -> None:
        self.calls = 0
        self.in_flight = 0
        self.most = 0

    async def __call__(self) -> None:
        self.calls += 1
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0)
        self.in_flight -= 1


class _Meter:
    def __init__(self) -> None:
        self.events: list[str] = []

    def start(self) -> None:
        self.events.append("start")

    def stop(self) -> float:
        self.events.append("stop")
        return 0.5


def test_one_in_flight_is_the_plain_closed_loop() -> None:
    call = _Recorder()
    result = asyncio.run(closed_loop(call, 20, 5, budget_s=60))
    assert (len(result["samples_ns"]), call.calls, call.most) == (20, 25, 1)
    assert (result["warmup"], result["in_flight"], result["cpu_s"]) == (5, 1, None)


def test_parallel_callers_keep_that_many_requests_in_flight() -> None:
    call, meter = _Recorder(), _Meter()
    result = asyncio.run(closed_loop(call, 640, 0, budget_s=60, in_flight=64, meter=meter))
    assert len(result["samples_ns"]) == 640
    assert call.most == 64
    assert result["warmup"] == 64  # one warm-up request per caller at least
    assert (meter.events, result["cpu_s"]) == (["start", "stop"], 0.5)
