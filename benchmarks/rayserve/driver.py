"""The Ray Serve side of the benchmark: a Ray driver run by the Ray virtualenv's interpreter.

The harness starts ``.venv-ray/bin/python benchmarks/rayserve/driver.py --http-port P`` and
talks to it over stdin/stdout, one JSON object a line (answers are prefixed ``BENCH``, so that
anything else Ray prints is ignored):

- ``{"op": "info"}``: versions of Ray, grpcio and Python in this virtualenv;
- ``{"op": "latency", "shape": "chain"|"fanout", "width": N, "payload_bytes": B,
  "requests": R, "warmup": W, "budget_s": S, "in_flight": F}``: deploys the application, runs
  the closed loop here, in the driver (its own process, separate from every replica), with the
  CPU time of Ray's processes (the driver's descendants) over the timed phase, and deletes the
  application;
- ``{"op": "http_up", "width": N}`` / ``{"op": "http_down"}``: a chain behind Serve's HTTP
  proxy at route prefix ``/``, for wrk;
- ``{"op": "memory", "settle_s": S}``: resident memory of one idle replica's actor process;
- ``{"op": "quit"}``.

The configuration is the fair one of issue 5, written out in docs/benchmarks.md: one replica per
deployment, ``max_ongoing_requests`` high enough never to throttle, compositions that pass each
``DeploymentResponse`` on to the next handle call without awaiting it, as Ray's model-composition
guide does. ``num_cpus: 0`` per replica only lifts Ray's logical CPU accounting (a replica asks
for one CPU by default, and a chain of 8 would not fit on 2 cores); every replica is still its own
process. Only the standard library and Ray are imported here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for benchmarks._closed_loop

import ray
from ray import serve
from ray.serve.config import HTTPOptions
from ray.serve.schema import LoggingConfig
from starlette.requests import Request
from starlette.responses import JSONResponse

from benchmarks._closed_loop import closed_loop
from benchmarks._cpu import CpuMeter, tree

APP = "bench"


@serve.deployment
class Echo:
    """A trivial node: returns its input."""

    async def __call__(self, value: Any) -> Any:
        return value

    async def pid(self) -> int:
        return os.getpid()


@serve.deployment
class Aggregate:
    """Joins the fan-out: returns how many values it received (a small value)."""

    async def __call__(self, *values: Any) -> int:
        return len(values)


@serve.deployment
class Chain:
    """The ingress of a chain: each response is passed on to the next hop without awaiting."""

    def __init__(self, *hops: Any) -> None:
        self._hops = hops

    async def run(self, value: Any) -> Any:
        response = self._hops[0].remote(value)
        for hop in self._hops[1:]:
            response = hop.remote(response)
        return await response

    async def __call__(self, request: Request) -> JSONResponse:
        return JSONResponse(await self.run(await request.json()))


@serve.deployment
class FanOut:
    """The ingress of a fan-out: every leaf at once, their responses passed to the aggregator."""

    def __init__(self, aggregate: Any, *leaves: Any) -> None:
        self._aggregate = aggregate
        self._leaves = leaves

    async def run(self, value: Any) -> Any:
        responses = [leaf.remote(value) for leaf in self._leaves]
        return await self._aggregate.remote(*responses)


class Driver:
    def __init__(self, max_ongoing: int, access_log: bool) -> None:
        self._options: dict[str, Any] = {
            "num_replicas": 1,
            "max_ongoing_requests": max_ongoing,
            "ray_actor_options": {"num_cpus": 0},
            "logging_config": LoggingConfig(enable_access_log=access_log),
        }

    def config(self) -> dict[str, Any]:
        shown = dict(self._options)
        shown["logging_config"] = {
            "enable_access_log": self._options["logging_config"].enable_access_log
        }
        return shown

    def _bind(self, deployment: Any, name: str, *args: Any) -> Any:
        return deployment.options(name=name, **self._options).bind(*args)

    def app(self, shape: str, width: int) -> Any:
        if shape == "chain":
            hops = [self._bind(Echo, f"hop-{i + 1}") for i in range(width)]
            return self._bind(Chain, "ingress", *hops)
        leaves = [self._bind(Echo, f"leaf-{i + 1}") for i in range(width)]
        return self._bind(FanOut, "ingress", self._bind(Aggregate, "aggregate"), *leaves)

    def latency(self, command: dict[str, Any]) -> dict[str, Any]:
        shape, width, size = command["shape"], command["width"], command["payload_bytes"]
        handle = serve.run(self.app(shape, width), name=APP, route_prefix=None).options(
            method_name="run"
        )
        value: Any = b"x" * size if size else 1
        expected = width if shape == "fanout" else value

        async def once() -> None:
            reply = await handle.remote(value)
            if reply != expected:
                raise RuntimeError(f"Ray {shape}-{width} replied {str(reply)[:80]!r}")

        try:
            return dict(
                asyncio.run(
                    closed_loop(
                        once,
                        command["requests"],
                        command["warmup"],
                        command["budget_s"],
                        in_flight=command.get("in_flight", 1),
                        # Ray's processes (GCS, raylet, the Serve actors) are the driver's
                        # descendants; the driver itself is the client.
                        meter=CpuMeter(lambda: tree(os.getpid(), include_root=False)),
                    )
                )
            )
        finally:
            serve.delete(APP)

    def http_up(self, command: dict[str, Any]) -> dict[str, Any]:
        serve.run(self.app("chain", command["width"]), name=APP, route_prefix="/")
        return {"ok": True}

    def http_down(self, command: dict[str, Any]) -> dict[str, Any]:
        serve.delete(APP)
        return {"ok": True}

    def memory(self, command: dict[str, Any]) -> dict[str, Any]:
        handle = serve.run(self._bind(Echo, "idle"), name=APP, route_prefix=None)
        pid = handle.pid.remote().result()
        time.sleep(command.get("settle_s", 5))
        try:
            return {"pid": pid, **_resident_memory_mb(pid)}
        finally:
            serve.delete(APP)

    def info(self, command: dict[str, Any]) -> dict[str, Any]:
        return {
            "ray": ray.__version__,
            "grpcio": metadata.version("grpcio"),
            "python": sys.version.split()[0],
            "ray_config": self.config(),
        }


def _resident_memory_mb(pid: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            found["rss_mb"] = int(line.split()[1]) / 1024
    private = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            found["pss_mb"] = int(line.split()[1]) / 1024
        elif line.startswith(("Private_Clean:", "Private_Dirty:")):
            private += int(line.split()[1])
    found["uss_mb"] = private / 1024
    return found


def _answer(message: dict[str, Any]) -> None:
    print("BENCH " + json.dumps(message), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Ray Serve driver of braid's benchmarks")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--max-ongoing-requests", type=int, default=1000)
    parser.add_argument(
        "--no-access-log", action="store_true", help="turn Serve's access log off (default on)"
    )
    args = parser.parse_args()
    ray.init(include_dashboard=False, log_to_driver=False)
    serve.start(http_options=HTTPOptions(host="127.0.0.1", port=args.http_port))
    driver = Driver(args.max_ongoing_requests, access_log=not args.no_access_log)
    _answer({"ready": True})
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "quit":
            break
        try:
            _answer(getattr(driver, command["op"])(command))
        except Exception as exc:
            _answer({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
