"""Driving an HTTP ingress with wrk (Debian's ``wrk``), a load generator in its own process.

A Lua script makes every request a POST of a small JSON body and, when wrk is done, prints one
line ``WRK_JSON {...}`` with the request count, the duration, the errors by kind and latency
percentiles, so that nothing depends on wrk's human-readable report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._stats import Summary

_MARK = "WRK_JSON "

# wrk's Lua API: `done(summary, latency, requests)` runs once at the end; latency is in
# microseconds. string.format("%.1f") copes with both integers and floats in LuaJIT.
_SCRIPT = """\
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%.1f, "duration_us": %%.1f, "connect": %%.1f, "read": %%.1f, '
    .. '"write": %%.1f, "status": %%.1f, "timeout": %%.1f, "p50_us": %%.1f, '
    .. '"p90_us": %%.1f, "p99_us": %%.1f, "mean_us": %%.1f, "min_us": %%.1f, "max_us": %%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.min, latency.max))
end
"""


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no summary."""


def script(body: str) -> str:
    """The Lua script for POSTs of ``body`` (a JSON text)."""
    return _SCRIPT % {"body": json.dumps(body), "mark": _MARK}


def parse(output: str) -> dict[str, float]:
    """The summary that the script's ``done`` printed."""
    for line in output.splitlines():
        if line.startswith(_MARK):
            parsed: dict[str, float] = json.loads(line[len(_MARK) :])
            return parsed
    raise WrkError(f"wrk printed no summary; its output was:\n{output.strip()[-2000:]}")


def summarize(raw: dict[str, float]) -> tuple[Summary, dict[str, Any]]:
    """A Summary (throughput counts only successful requests) and the error counts."""
    errors = {k: int(raw[k]) for k in ("connect", "read", "write", "status", "timeout")}
    good = raw["requests"] - errors["status"]
    seconds = raw["duration_us"] / 1e6
    summary = Summary(
        samples=int(raw["requests"]),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        min_ms=raw["min_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        throughput_rps=good / seconds if seconds > 0 else 0.0,
    )
    return summary, {"errors": errors}


def run(url: str, connections: int, seconds: float, threads: int = 1) -> dict[str, float]:
    """Run wrk against ``url`` and return its parsed summary."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkError("wrk is not installed; run benchmarks/setup (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="braid-wrk-") as tmp:
        lua = Path(tmp) / "post.lua"
        lua.write_text(script("1"))
        argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(lua), url]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return parse(done.stdout)
