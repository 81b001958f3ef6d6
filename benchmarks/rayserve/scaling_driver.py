"""Ray Serve's side of the autoscaling benchmark: a driver run by the Ray virtualenv's Python.

The harness (benchmarks/_scaling.py) talks to it over stdin/stdout, one JSON object a line;
answers are prefixed ``BENCH`` so that anything else Ray prints is ignored:

- ``{"op": "deploy", "autoscaling": {...}, "work_s": W}``: deploys one autoscaling deployment
  behind Serve's HTTP proxy at ``/`` (each request sleeps ``work_s``), with the
  ``autoscaling_config`` given (Ray's own field names);
- ``{"op": "replicas"}``: the deployment's replicas by state (``RUNNING``, ``STARTING``, ...);
- ``{"op": "delete"}`` and ``{"op": "quit"}``.

The harness drives the HTTP load itself, the same way for both systems. Only the standard
library and Ray are imported here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from typing import Any

import ray
from ray import serve
from ray.serve.config import HTTPOptions

APP = "scaling"


@serve.deployment
class Work:
    def __init__(self, work_s: float) -> None:
        self._work_s = work_s

    async def __call__(self, request: Any) -> str:
        await asyncio.sleep(self._work_s)
        return "ok"


def _answer(value: dict[str, Any]) -> None:
    print("BENCH " + json.dumps(value), flush=True)


def _replicas() -> dict[str, int]:
    status = serve.status()
    app = status.applications.get(APP)
    if app is None:
        return {}
    deployment = app.deployments.get("Work")
    if deployment is None:
        return {}
    return {str(k): int(v) for k, v in deployment.replica_states.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http-port", type=int, required=True)
    args = parser.parse_args()
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
    serve.start(http_options=HTTPOptions(host="127.0.0.1", port=args.http_port))
    _answer({"ready": True, "ray": ray.__version__})
    for line in sys.stdin:
        try:
            command = json.loads(line)
            op = command["op"]
            if op == "deploy":
                app = Work.options(
                    autoscaling_config=command["autoscaling"],
                    ray_actor_options={"num_cpus": 0},
                    max_ongoing_requests=100,
                ).bind(command["work_s"])
                serve.run(app, name=APP, route_prefix="/")
                _answer({"deployed": True})
            elif op == "replicas":
                _answer({"replicas": _replicas()})
            elif op == "delete":
                serve.delete(APP)
                _answer({"deleted": True})
            elif op == "quit":
                _answer({"quit": True})
                break
            else:
                _answer({"error": f"unknown op {op!r}"})
        except Exception as exc:  # report, keep serving
            _answer({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
    serve.shutdown()
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
