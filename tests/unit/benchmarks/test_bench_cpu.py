"""benchmarks._cpu: CPU time of a system's processes, from /proc's stat lines (pure parts)."""

import os

import pytest

from benchmarks._cpu import (
    CpuMeter,
    cpu_used,
    descendants_of,
    per_request_ms,
    stat_cpu_seconds,
    stat_parent,
    tree,
)

#: A /proc/PID/stat line whose command name holds a space and a parenthesis.
_STAT = "4242 (python -m x) ) S 17 4242 4242 0 -1 4194560 900 0 0 0 250 130 4 2 20 0 3 0 100"


def test_stat_fields_are_counted_from_the_last_parenthesis() -> None:
    assert stat_parent(_STAT) == 17
    assert stat_cpu_seconds(_STAT, ticks_per_s=100) == pytest.approx(3.8)  # (250 + 130) / 100


def test_descendants_are_every_process_under_the_root_and_nothing_else() -> None:
    parents = {10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
    assert descendants_of(10, parents) == [11, 12, 13]
    assert descendants_of(13, parents) == []


def test_cpu_used_counts_new_processes_whole_and_never_goes_negative() -> None:
    before = {1: 2.0, 2: 5.0, 3: 1.0}
    after = {1: 2.5, 2: 5.0, 4: 0.25}  # 3 exited, 4 started
    assert cpu_used(before, after) == pytest.approx(0.75)
    assert cpu_used({1: 3.0}, {1: 2.0}) == 0.0  # a reused pid


def test_per_request_is_in_milliseconds_and_none_without_requests() -> None:
    assert per_request_ms(0.5, 1000) == pytest.approx(0.5)
    assert per_request_ms(0.5, 0) is None


def test_the_meter_reads_this_process_from_proc() -> None:
    assert tree(os.getpid())[0] == os.getpid()
    meter = CpuMeter(lambda: [os.getpid()])
    meter.start()
    sum(i * i for i in range(200_000))
    assert meter.stop() >= 0.0
