"""The floor as a system: relay processes per workload, driven by the latency client or wrk.

Topologies (every box is its own process, see benchmarks/floor/):
- chain of N: client -> relay 1 -> ... -> leaf N, each reply travelling back the same way;
- fan-out N: the client calls N leaves at once, then an aggregator with their joined replies;
- HTTP: wrk -> HTTP front -> chain of N;
- idle memory: one leaf, after it settles.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

from benchmarks._launching import Process, run_json
from benchmarks._machine import resident_memory_mb
from benchmarks._results import FLOOR, Measurement, Status
from benchmarks._systems import REPO, Settings, http_measurement, latency_measurement
from benchmarks._workloads import Kind, Shape, Workload

_READY_TIMEOUT_S = 30.0


class FloorSystem:
    name = FLOOR

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        #: The pids of the current workload's servers, for their CPU time.
        self._pids: list[int] = []

    def start(self) -> None:
        """Nothing to start up front: every workload starts its own processes."""

    def stop(self) -> None:
        """Nothing left running: every workload stops its own processes."""

    def info(self) -> dict[str, Any]:
        return {"python": sys.version.split()[0]}

    def _server(self, stack: contextlib.ExitStack, name: str, *args: str) -> str:
        module = (
            "benchmarks.floor.http_front"
            if name.startswith("front")
            else ("benchmarks.floor.relay")
        )
        argv = [sys.executable, "-m", module, *args]
        process = stack.enter_context(Process(f"floor-{name}", argv, self._settings.log_dir, REPO))
        self._pids.append(process.pid)
        line = process.read_line(_READY_TIMEOUT_S, accept=lambda text: text.startswith("READY "))
        return line.split()[1]

    def _chain(self, stack: contextlib.ExitStack, width: int) -> str:
        """Start a chain from its tail; return the address of its head."""
        address = self._server(stack, f"hop-{width}", "--role", "leaf")
        for hop in range(width - 1, 0, -1):
            address = self._server(stack, f"hop-{hop}", "--role", "relay", "--next", address)
        return address

    def _client(self, workload: Workload, *target: str) -> Measurement:
        requests, warmup = self._settings.requests_for(workload)
        argv = [
            sys.executable,
            "-m",
            "benchmarks._client",
            *target,
            f"--payload-bytes={workload.payload_bytes}",
            f"--requests={requests}",
            f"--warmup={warmup}",
            f"--budget={self._settings.budget_s}",
            f"--in-flight={workload.in_flight}",
            *(f"--system-pid={pid}" for pid in self._pids),
        ]
        timeout = self._settings.budget_s + 120
        samples = run_json(
            f"floor-client-{workload.name}", argv, self._settings.log_dir, timeout, REPO
        )
        return latency_measurement(samples)

    def measure(self, workload: Workload) -> Measurement:
        self._pids = []
        with contextlib.ExitStack() as stack:
            if workload.kind is Kind.MEMORY:
                return self._memory(stack)
            if workload.kind is Kind.HTTP:
                front = self._server(stack, "front", "--next", self._chain(stack, workload.width))
                return http_measurement(f"http://{front}/", self._settings)
            if workload.shape is Shape.FANOUT:
                leaves = [
                    self._server(stack, f"leaf-{i + 1}", "--role", "leaf")
                    for i in range(workload.width)
                ]
                aggregator = self._server(stack, "aggregate", "--role", "aggregate")
                args = (
                    "floor-fanout",
                    f"--leaves={','.join(leaves)}",
                    f"--aggregator={aggregator}",
                )
                return self._client(workload, *args)
            return self._client(
                workload, "floor-chain", f"--target={self._chain(stack, workload.width)}"
            )

    def _memory(self, stack: contextlib.ExitStack) -> Measurement:
        argv = [sys.executable, "-m", "benchmarks.floor.relay", "--role", "leaf"]
        process = stack.enter_context(Process("floor-idle", argv, self._settings.log_dir, REPO))
        process.read_line(_READY_TIMEOUT_S, accept=lambda text: text.startswith("READY "))
        time.sleep(self._settings.settle_s)
        detail: dict[str, Any] = {**resident_memory_mb(process.pid), "processes": 1}
        return Measurement(Status.OK, None, detail)
