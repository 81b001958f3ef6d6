"""What every system under test offers the harness, and the settings of one run.

A system starts once (``start``), measures workloads one at a time (``measure``), and stops
(``stop``), leaving no process behind. ``start`` raises ``Unavailable`` when the system cannot run
on this machine (no Ray virtualenv, no ``braid run`` yet); the harness then reports it as
"not available" and still measures the others. Also: the shared HTTP measurement (readiness
poll, wrk warm-up, measured wrk run) and small socket helpers.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from benchmarks import _wrk
from benchmarks._cpu import per_request_ms
from benchmarks._results import Measurement, Status
from benchmarks._stats import summarize
from benchmarks._workloads import MB, Workload

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
GRAPHS = BENCHMARKS / "graphs"
#: Payloads from this size get a tenth of the payload requests (100 MB takes seconds on Ray).
LARGE_PAYLOAD = 100 * MB


#: Timed requests of a parallel workload, as a multiple of ``--requests``.
PARALLEL_FACTOR = 4


class Unavailable(RuntimeError):
    """The system cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class Settings:
    """How much to measure, and where the parts live. Filled from the command line."""

    requests: int = 1000
    warmup: int = 100
    payload_requests: int = 200
    payload_warmup: int = 20
    budget_s: float = 30.0
    http_seconds: float = 20.0
    http_warmup_seconds: float = 5.0
    connections: int = 32
    settle_s: float = 5.0
    ray_python: Path = BENCHMARKS / ".venv-ray" / "bin" / "python"
    ray_access_log: bool = True
    ray_max_ongoing_requests: int = 1000
    log_dir: Path = Path("/tmp")
    #: ``braid run --layout``: process (one process per replica) or pod (sidecar plus worker).
    braid_layout: str = "process"
    #: ``braid run --entry-in-ingress``: the ingress hosts the flow's first replica.
    braid_entry_in_ingress: bool = False
    #: ``braid run --no-local-calls``: the processes call each other over gRPC only.
    braid_local_calls: bool = True

    def requests_for(self, workload: Workload) -> tuple[int, int]:
        """(timed requests, warm-up requests): fewer for the large payloads, more with many in
        flight (at 64 in flight, 1,000 requests would be over in about 15 rounds)."""
        if workload.payload_bytes >= LARGE_PAYLOAD:  # 100 MB: seconds a request on Ray
            return max(self.payload_requests // 10, 5), max(self.payload_warmup // 10, 2)
        if workload.payload_bytes:
            return self.payload_requests, self.payload_warmup
        if workload.in_flight > 1:
            return self.requests * PARALLEL_FACTOR, max(self.warmup, 2 * workload.in_flight)
        return self.requests, self.warmup


class System(Protocol):
    name: str

    def start(self) -> None: ...

    def measure(self, workload: Workload) -> Measurement: ...

    def stop(self) -> None: ...

    def info(self) -> dict[str, Any]: ...


def latency_measurement(samples: dict[str, Any]) -> Measurement:
    """A Measurement from a client's ``{"samples_ns": [...], "elapsed_ns": N, ...}``, with the
    system's CPU milliseconds per timed request when the client measured them."""
    summary = summarize(samples["samples_ns"], samples["elapsed_ns"])
    detail: dict[str, Any] = {"in_flight": samples.get("in_flight", 1)}
    cpu_s = samples.get("cpu_s")
    if isinstance(cpu_s, int | float):
        detail["cpu_s"] = cpu_s
        detail["cpu_ms_per_request"] = per_request_ms(cpu_s, summary.samples)
    return Measurement(Status.OK, summary, detail)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_http(url: str, timeout: float, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``url`` with a JSON POST until it answers 200; raise TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"the server behind {url} exited while starting")
        request = urllib.request.Request(
            url, data=b"1", headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    json.loads(response.read() or b"null")
                    return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:g} s (last: {last})")


def http_measurement(url: str, settings: Settings) -> Measurement:
    """Warm up with wrk, then measure with wrk at the configured connections."""
    _wrk.run(url, settings.connections, settings.http_warmup_seconds)
    raw = _wrk.run(url, settings.connections, settings.http_seconds)
    summary, detail = _wrk.summarize(raw)
    detail["connections"] = settings.connections
    failed = sum(detail["errors"].values())
    if failed and failed >= raw["requests"] / 2:
        return Measurement(Status.FAILED, summary, detail, f"{failed} of the requests failed")
    return Measurement(Status.OK, summary, detail)
