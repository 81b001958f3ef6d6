"""CPU time of a system under test: user plus system time of its processes, from /proc.

On 2 cores latency hides where the cycles go, so every latency workload also reports the CPU
time that the system's processes spent per request (issue 11). The harness samples the
processes before the client starts and after it ends; a process that started in between counts
from zero, and one that exited in between counts up to its last sample. The client's own
process is not part of the system (for Ray the driver is the client, and its descendants, the
raylet, GCS and the actors, are the system). Standard library only; the parsing is pure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

#: Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux).
TICKS_PER_S = os.sysconf("SC_CLK_TCK")

CpuTimes = dict[int, float]


def stat_cpu_seconds(stat: str, ticks_per_s: int = TICKS_PER_S) -> float:
    """utime + stime of one /proc/PID/stat line, in seconds.

    The command name (field 2) may hold spaces and parentheses, so the fields are counted from
    the last ``)``: utime and stime are fields 14 and 15 of the line.
    """
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (the state), so field N is fields[N - 3].
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def stat_parent(stat: str) -> int:
    """The parent pid (field 4) of one /proc/PID/stat line."""
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants_of(root: int, parents: Mapping[int, int]) -> list[int]:
    """Every pid under ``root`` in a pid -> parent map, breadth first (pure)."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in sorted(children.get(todo.pop(0), [])):
            found.append(child)
            todo.append(child)
    return found


def cpu_used(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """Seconds of CPU between two samples, over every process seen in either (pure).

    A process only in ``after`` started in between and counts whole; one only in ``before``
    exited in between, and its time after the first sample is lost (it is small for a system
    whose processes outlive the measurement, which is the case here).
    """
    return sum(max(0.0, after[pid] - before.get(pid, 0.0)) for pid in after)


def per_request_ms(seconds: float, requests: int) -> float | None:
    """CPU milliseconds per request, or None without requests."""
    return seconds * 1000 / requests if requests > 0 else None


def _read_stat(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None


def process_parents() -> dict[int, int]:
    """pid -> parent pid of every process on the machine (read only)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _read_stat(int(entry.name))) is not None:
            with contextlib.suppress(IndexError, ValueError):
                parents[int(entry.name)] = stat_parent(stat)
    return parents


def tree(root: int, *, include_root: bool = True) -> list[int]:
    """``root`` and every process under it, as the machine has them now."""
    found = descendants_of(root, process_parents())
    return [root, *found] if include_root else found


def cpu_times(pids: Iterable[int]) -> CpuTimes:
    """utime + stime in seconds of each pid that still exists."""
    times: CpuTimes = {}
    for pid in pids:
        if (stat := _read_stat(pid)) is not None:
            with contextlib.suppress(IndexError, ValueError):
                times[pid] = stat_cpu_seconds(stat)
    return times


class CpuMeter:
    """CPU seconds that the processes named by ``pids`` spend between ``start`` and ``stop``.

    ``pids`` is called at each sample, so that processes started in between are counted.
    """

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        self._pids = pids
        self._before: CpuTimes = {}
        self.seconds = 0.0

    def start(self) -> None:
        self._before = cpu_times(self._pids())

    def stop(self) -> float:
        self.seconds = cpu_used(self._before, cpu_times(self._pids()))
        return self.seconds
