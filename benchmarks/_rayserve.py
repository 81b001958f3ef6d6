"""Ray Serve as a system: one Ray driver process (benchmarks/rayserve/driver.py) for the run.

The driver runs under the Ray virtualenv's interpreter (``--ray-python``, by default
benchmarks/.venv-ray/bin/python, which benchmarks/setup creates). It starts Ray and Serve once,
then deploys, measures and deletes one application per workload on request. Handle-based
latency is measured inside the driver; HTTP goes through Serve's proxy with wrk.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks._launching import LaunchError, Process
from benchmarks._results import RAY, Measurement, Status
from benchmarks._systems import (
    BENCHMARKS,
    REPO,
    Settings,
    Unavailable,
    free_port,
    http_measurement,
    latency_measurement,
    wait_http,
)
from benchmarks._workloads import Kind, Workload

_DRIVER = BENCHMARKS / "rayserve" / "driver.py"
_MARK = "BENCH "
_START_TIMEOUT_S = 180.0
_DEPLOY_TIMEOUT_S = 180.0


class RayDriverError(RuntimeError):
    """The Ray driver answered a command with an error."""


class RaySystem:
    name = RAY

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._driver: Process | None = None
        self._http_port = free_port()
        self._info: dict[str, Any] = {}

    def start(self) -> None:
        python = self._settings.ray_python
        if not python.exists():
            raise Unavailable(
                f"no Ray virtualenv at {python}; run benchmarks/setup or pass --ray-python"
            )
        argv = [
            str(python),
            str(_DRIVER),
            f"--http-port={self._http_port}",
            f"--max-ongoing-requests={self._settings.ray_max_ongoing_requests}",
        ]
        if not self._settings.ray_access_log:
            argv.append("--no-access-log")
        self._driver = Process("ray-driver", argv, self._settings.log_dir, REPO, stdin=True)
        try:
            self._driver.read_line(_START_TIMEOUT_S, accept=lambda t: t.startswith(_MARK))
            self._info = self._ask({"op": "info"}, 30)
        except (LaunchError, RayDriverError) as exc:
            self.stop()
            raise Unavailable(f"Ray Serve did not start: {exc}") from exc

    def info(self) -> dict[str, Any]:
        return self._info

    def _ask(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self._driver is None:
            raise RayDriverError("the Ray driver is not running")
        self._driver.send(command)
        line = self._driver.read_line(timeout, accept=lambda t: t.startswith(_MARK))
        answer: dict[str, Any] = json.loads(line[len(_MARK) :])
        if "error" in answer:
            raise RayDriverError(f"Ray driver, {command['op']}: {answer['error']}")
        return answer

    def measure(self, workload: Workload) -> Measurement:
        settings = self._settings
        if workload.kind is Kind.MEMORY:
            answer = self._ask({"op": "memory", "settle_s": settings.settle_s}, _DEPLOY_TIMEOUT_S)
            return Measurement(Status.OK, None, {**answer, "processes": 1})
        if workload.kind is Kind.HTTP:
            self._ask({"op": "http_up", "width": workload.width}, _DEPLOY_TIMEOUT_S)
            try:
                url = f"http://127.0.0.1:{self._http_port}/"
                wait_http(url, 60)
                return http_measurement(url, settings)
            finally:
                self._ask({"op": "http_down"}, 60)
        requests, warmup = settings.requests_for(workload)
        command = {
            "op": "latency",
            "shape": workload.shape.value,
            "width": workload.width,
            "payload_bytes": workload.payload_bytes,
            "requests": requests,
            "warmup": warmup,
            "budget_s": settings.budget_s,
            "in_flight": workload.in_flight,
        }
        return latency_measurement(self._ask(command, _DEPLOY_TIMEOUT_S + settings.budget_s * 3))

    def stop(self) -> None:
        driver, self._driver = self._driver, None
        if driver is None:
            return
        if driver.running:
            try:
                driver.send({"op": "quit"})
                driver.wait(60)  # serve.shutdown() and ray.shutdown() stop Ray's processes
            except LaunchError:
                pass
        driver.stop()
