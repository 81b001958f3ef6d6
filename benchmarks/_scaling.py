"""``benchmarks/run scaling``: autoscaling reaction and cold start, braid against Ray Serve.

Both systems get the same node (each request sleeps ``--work`` seconds), the same policy
(target ongoing requests, bounds, delays; Ray's ``metrics_interval_s`` and
``look_back_period_s`` set short, since braid decides on the latest reading) and the same HTTP
clients, run from this process:

- **scale-up**: one replica; then ``--clients`` closed-loop clients at once (the step). Measured:
  seconds from the step until the replicas the load asks for (``ceil(clients / target)``, at most
  ``maxReplicas``) are ready and serving (braid: ``braid run``'s status file; Ray:
  ``serve.status()`` RUNNING replicas). Repeated ``--rounds`` times (the system scales back down
  in between).
- **cold start**: ``minReplicas: 0``; the node idles to zero, then one request is timed from
  its send to its answer. ``--cold`` times; p50 and the spread.

It prints a table and writes JSON (with the load average before and after: these machines are
shared, and absolute seconds move with the load).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from benchmarks._systems import BENCHMARKS, REPO, free_port

_RAY_DRIVER = BENCHMARKS / "rayserve" / "scaling_driver.py"
_MARK = "BENCH "
_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Policy:
    """The autoscaling policy both systems get."""

    target: float = 2.0
    max_replicas: int = 5
    upscale_delay_s: float = 1.0
    downscale_delay_s: float = 5.0
    to_zero_delay_s: float = 1.0
    work_s: float = 0.1

    def braid(self, min_replicas: int) -> dict[str, Any]:
        return {
            "minReplicas": min_replicas,
            "maxReplicas": self.max_replicas,
            "targetOngoingRequests": self.target,
            "upscaleDelaySeconds": self.upscale_delay_s,
            "downscaleDelaySeconds": self.downscale_delay_s,
            "downscaleToZeroDelaySeconds": self.to_zero_delay_s,
        }

    def ray(self, min_replicas: int) -> dict[str, Any]:
        return {
            "min_replicas": min_replicas,
            "max_replicas": self.max_replicas,
            "target_ongoing_requests": self.target,
            "upscale_delay_s": self.upscale_delay_s,
            "downscale_delay_s": self.downscale_delay_s,
            "downscale_to_zero_delay_s": self.to_zero_delay_s,
            "metrics_interval_s": 0.5,
            "look_back_period_s": 1.0,
        }


class Scaled(Protocol):
    """One system running one autoscaled node behind HTTP."""

    url: str

    def ready_replicas(self) -> int: ...

    def any_replicas(self) -> int: ...

    def close(self) -> None: ...


def post(url: str, timeout: float = 120.0) -> int:
    """POST ``0`` to ``url``; the HTTP status."""
    rest = url.removeprefix("http://")
    host_port, _, path = rest.partition("/")
    host, port = host_port.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("POST", "/" + path, b"0", {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - began


class BraidScaled:
    """``braid run`` of a one-node graph with ``autoscaling``."""

    _NODES = BENCHMARKS / "graphs" / "scaling_bench_nodes.py"

    def __init__(self, policy: Policy, min_replicas: int, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / self._NODES.name).write_text(self._NODES.read_text())
        graph = {
            "apiVersion": "braid.dev/v1alpha1",
            "kind": "DeploymentGraph",
            "metadata": {"name": "scaling"},
            "spec": {
                "nodes": [
                    {
                        "name": "work",
                        "class": "scaling_bench_nodes:Work",
                        "init": {"work_s": policy.work_s},
                        "maxOngoingRequests": 100,
                        "autoscaling": policy.braid(min_replicas),
                    }
                ],
                "flow": {
                    "input": "x",
                    "steps": [{"name": "done", "call": "work.run", "args": ["$x"]}],
                    "output": "$done",
                },
                "ingress": {"http": {"routePrefix": "/"}},
            },
        }
        (folder / "graph.json").write_text(json.dumps(graph))
        self._status = folder / "status.json"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        argv = [sys.executable, "-m", "braid", "run", str(folder / "graph.json")]
        argv += ["--http", f"127.0.0.1:{port}", "--grpc", "off", "--log-level", "WARNING"]
        argv += ["--status-file", str(self._status), "--autoscale-interval", "0.5"]
        self._log = (folder / "braid-run.log").open("wb")
        self._process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
        )
        _wait(self._status.exists, _TIMEOUT_S, "braid run to be ready")

    def _unit(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self._status.read_text())["autoscaling"]["scaling/work"]
        return found

    def ready_replicas(self) -> int:
        return int(self._unit()["ready"])

    def any_replicas(self) -> int:
        return int(self._unit()["replicas"])

    def close(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGINT)
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._log.close()


class RayDriver:
    """Ray and Serve in one driver process for the whole run."""

    def __init__(self, python: Path, log: Path) -> None:
        if not python.exists():
            raise FileNotFoundError(f"no Ray virtualenv at {python}; run benchmarks/setup")
        self.port = free_port()
        self._log = log.open("wb")
        self._process = subprocess.Popen(
            [str(python), str(_RAY_DRIVER), f"--http-port={self.port}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
            text=True,
            cwd=REPO,
        )
        self.version = self._read().get("ray", "?")

    def _read(self) -> dict[str, Any]:
        stdout = self._process.stdout
        if stdout is None:  # pragma: no cover - always piped
            raise RuntimeError("the Ray driver has no stdout")
        for line in stdout:
            if line.startswith(_MARK):
                answer: dict[str, Any] = json.loads(line[len(_MARK) :])
                if "error" in answer:
                    raise RuntimeError(f"Ray driver: {answer['error']}")
                return answer
        raise RuntimeError("the Ray driver exited; its log is in the run's folder")

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        stdin = self._process.stdin
        if stdin is None:  # pragma: no cover - always piped
            raise RuntimeError("the Ray driver has no stdin")
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self._read()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask({"op": "quit"})
            self._process.wait(60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._log.close()


class RayScaled:
    """One autoscaled deployment on the Ray driver."""

    def __init__(self, driver: RayDriver, policy: Policy, min_replicas: int) -> None:
        self._driver = driver
        driver.ask(
            {"op": "deploy", "autoscaling": policy.ray(min_replicas), "work_s": policy.work_s}
        )
        self.url = f"http://127.0.0.1:{driver.port}/"

    def _states(self) -> dict[str, int]:
        found: dict[str, int] = self._driver.ask({"op": "replicas"})["replicas"]
        return found

    def ready_replicas(self) -> int:
        return self._states().get("RUNNING", 0)

    def any_replicas(self) -> int:
        return sum(self._states().values())

    def close(self) -> None:
        self._driver.ask({"op": "delete"})


@contextlib.contextmanager
def step_load(url: str, clients: int) -> Iterator[list[int]]:
    """``clients`` closed-loop clients for the block; yields the statuses they got."""
    stop = threading.Event()
    statuses: list[int] = []

    def client() -> None:
        while not stop.is_set():
            try:
                statuses.append(post(url))
            except OSError:
                statuses.append(0)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        for thread in threads:
            thread.join(130)


def scale_up(system: Scaled, policy: Policy, clients: int, rounds: int) -> dict[str, Any]:
    """Seconds from the step until enough replicas are ready, per round."""
    enough = min(policy.max_replicas, math.ceil(clients / policy.target))
    seconds: list[float] = []
    failed = 0
    for _ in range(rounds):
        _wait(lambda: system.any_replicas() == 1, _TIMEOUT_S, "one replica before the step")
        _wait(lambda: system.ready_replicas() == 1, _TIMEOUT_S, "it to be ready")
        with step_load(system.url, clients) as statuses:
            seconds.append(
                _wait(lambda: system.ready_replicas() >= enough, _TIMEOUT_S, "the scale-up")
            )
        failed += sum(1 for s in statuses if s != 200)
    return {"enough_replicas": enough, "seconds": seconds, "failed_requests": failed}


def cold_start(system: Scaled, times: int) -> dict[str, Any]:
    """Seconds from a request's send to its answer, each time from zero replicas."""
    seconds: list[float] = []
    for _ in range(times):
        _wait(lambda: system.any_replicas() == 0, _TIMEOUT_S, "the node to reach zero")
        began = time.monotonic()
        status = post(system.url)
        if status != 200:
            raise RuntimeError(f"a cold request failed with HTTP {status}")
        seconds.append(time.monotonic() - began)
    return {"seconds": seconds, "p50": statistics.median(seconds)}


def _run_system(
    name: str, make: Callable[[int], Scaled], policy: Policy, args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for kind in ("scale-up", "cold-start"):
        print(f"scaling: {name} {kind} ...", file=sys.stderr, flush=True)
        load = [round(x, 2) for x in os.getloadavg()]
        try:
            system = make(1 if kind == "scale-up" else 0)
        except (OSError, RuntimeError, TimeoutError) as exc:
            result[kind] = {"error": str(exc)}
            continue
        try:
            if kind == "scale-up":
                result[kind] = scale_up(system, policy, args.clients, args.rounds)
            else:
                result[kind] = cold_start(system, args.cold)
        except (OSError, RuntimeError, TimeoutError) as exc:
            result[kind] = {"error": str(exc)}
        finally:
            system.close()
        result[kind]["load_average"] = [load, [round(x, 2) for x in os.getloadavg()]]
    return result


def _summary(value: dict[str, Any]) -> str:
    if "error" in value:
        return f"failed: {value['error']}"
    seconds = value["seconds"]
    loads = value["load_average"]
    return (
        f"p50 {statistics.median(seconds):.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f},"
        f" n={len(seconds)}), load {loads[0][0]:.1f}->{loads[1][0]:.1f}"
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run scaling", description=__doc__)
    parser.add_argument("--systems", default="ray,braid")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", type=int, default=10)
    parser.add_argument("--work", type=float, default=0.1, help="seconds per request")
    parser.add_argument(
        "--ray-python", type=Path, default=BENCHMARKS / ".venv-ray" / "bin" / "python"
    )
    parser.add_argument("--out", type=Path, default=BENCHMARKS / "results")
    args = parser.parse_args(argv)
    policy = Policy(work_s=args.work)
    folder = Path(tempfile.mkdtemp(prefix="braid-bench-scaling-"))
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    results: dict[str, Any] = {}
    if "ray" in systems:
        try:
            driver = RayDriver(args.ray_python, folder / "ray-driver.log")
        except (OSError, RuntimeError) as exc:
            results["ray"] = {"error": str(exc)}
        else:
            try:
                results["ray"] = _run_system(
                    f"ray {driver.version}",
                    lambda low: RayScaled(driver, policy, low),
                    policy,
                    args,
                )
            finally:
                driver.close()
    if "braid" in systems:
        rounds = iter(range(1000))
        results["braid"] = _run_system(
            "braid",
            lambda low: BraidScaled(policy, low, folder / f"braid-{next(rounds)}"),
            policy,
            args,
        )
    print(f"\npolicy: {asdict(policy)}; {args.clients} clients; logs in {folder}")
    for system, kinds in results.items():
        if "error" in kinds:
            print(f"{system:6} not available: {kinds['error']}")
            continue
        for kind, value in kinds.items():
            print(f"{system:6} {kind:10} {_summary(value)}")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"scaling-{stamp}.json"
    document = {"policy": asdict(policy), "clients": args.clients, "results": results}
    path.write_text(json.dumps(document, indent=2))
    print(f"wrote {path}")
    return 0
