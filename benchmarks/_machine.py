"""What the run was measured on: cores, CPU model, memory, kernel and versions of every part.

Also reads a process's resident memory from /proc, for the idle-replica comparison: RSS (what
``ps`` shows), PSS (shared pages divided among the processes that share them) and USS (pages
only this process holds).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _wrk_version() -> str | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" [")[0] if first else None


def describe() -> dict[str, Any]:
    """The machine and the harness's own versions; the Ray driver adds Ray's side."""
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "grpcio": _version("grpcio"),
        "braid": _version("braid"),
        "wrk": _wrk_version(),
        # Other work on a shared machine moves the numbers: keep the load next to them.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def resident_memory_mb(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private pages) of one process in MiB; PSS and USS need smaps_rollup."""
    found: dict[str, float] = {}
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            found["rss_mb"] = int(line.split()[1]) / 1024
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return found
    private = 0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            found["pss_mb"] = int(line.split()[1]) / 1024
        elif line.startswith(("Private_Clean:", "Private_Dirty:")):
            private += int(line.split()[1])
    found["uss_mb"] = private / 1024
    return found
