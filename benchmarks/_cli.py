"""``python -m benchmarks``: run the workloads on every system, print the table, write JSON.

Systems run one after the other (Ray Serve, then the floor, then braid), each alone on the
machine, so that one system's idle background processes never tax another's numbers. Within a
system the workloads run in the table's order. A system that cannot start is reported as
"not available"; a workload that fails is reported as "failed" with the reason, and the run
goes on.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import _report
from benchmarks._braid import BraidSystem
from benchmarks._floor import FloorSystem
from benchmarks._machine import describe
from benchmarks._rayserve import RaySystem
from benchmarks._results import BRAID, SYSTEMS, Measurement, Results, Status, results_from_json
from benchmarks._systems import BENCHMARKS, Settings, System, Unavailable
from benchmarks._targets import evaluate
from benchmarks._workloads import GROUPS, WORKLOADS, UnknownWorkload, Workload, select

_DEFAULTS = Settings()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=f"workloads: {', '.join(w.name for w in WORKLOADS)}; groups: {', '.join(GROUPS)}",
    )
    add = parser.add_argument
    add("--systems", default=",".join(SYSTEMS), help="comma-separated (default: all three)")
    add("--workloads", default="all", help="comma-separated names or groups (default: all)")
    add("--requests", type=int, default=_DEFAULTS.requests, help="timed requests per workload")
    add("--warmup", type=int, default=_DEFAULTS.warmup, help="untimed requests first")
    add("--payload-requests", type=int, default=_DEFAULTS.payload_requests)
    add("--budget", type=float, default=_DEFAULTS.budget_s, help="max seconds of timed calls")
    add("--http-seconds", type=float, default=_DEFAULTS.http_seconds, help="wrk duration")
    add("--http-warmup", type=float, default=_DEFAULTS.http_warmup_seconds)
    add("--connections", type=int, default=_DEFAULTS.connections, help="wrk connections")
    add("--ray-python", type=Path, default=_DEFAULTS.ray_python, help="Ray venv's python")
    add("--ray-no-access-log", action="store_true", help="turn Serve's access log off")
    add("--ray-max-ongoing-requests", type=int, default=_DEFAULTS.ray_max_ongoing_requests)
    add(
        "--braid-layout",
        choices=["process", "pod"],
        default=_DEFAULTS.braid_layout,
        help="braid run's layout: process (default) or pod (a sidecar and a worker per replica)",
    )
    add(
        "--braid-entry-in-ingress",
        action="store_true",
        help="braid run --entry-in-ingress: the ingress hosts the flow's first replica",
    )
    add(
        "--braid-no-local-calls",
        dest="braid_local_calls",
        action="store_false",
        help="braid run --no-local-calls: the processes call each other over gRPC only",
    )
    add("--out", type=Path, default=BENCHMARKS / "results", help="where the JSON goes")
    add("--quick", action="store_true", help="a smoke run: few requests, short wrk runs")
    add("--report", type=Path, metavar="JSON", help="print the table of an earlier run's JSON")
    return parser


def _settings(args: argparse.Namespace, log_dir: Path) -> Settings:
    settings = Settings(
        requests=args.requests,
        warmup=args.warmup,
        payload_requests=args.payload_requests,
        budget_s=args.budget,
        http_seconds=args.http_seconds,
        http_warmup_seconds=args.http_warmup,
        connections=args.connections,
        ray_python=args.ray_python,
        ray_access_log=not args.ray_no_access_log,
        ray_max_ongoing_requests=args.ray_max_ongoing_requests,
        log_dir=log_dir,
        braid_layout=args.braid_layout,
        braid_entry_in_ingress=args.braid_entry_in_ingress,
        braid_local_calls=args.braid_local_calls,
    )
    if args.quick:
        settings = dataclasses.replace(
            settings,
            requests=200,
            warmup=20,
            payload_requests=30,
            payload_warmup=5,
            budget_s=10,
            http_seconds=5,
            http_warmup_seconds=2,
            settle_s=2,
        )
    return settings


def _systems(names: Sequence[str], settings: Settings) -> list[System]:
    known: dict[str, type[RaySystem] | type[FloorSystem] | type[BraidSystem]] = {
        "ray": RaySystem,
        "floor": FloorSystem,
        "braid": BraidSystem,
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown system {unknown[0]!r}; choose among: {', '.join(known)}")
    return [known[name](settings) for name in SYSTEMS if name in names]


def _progress(system: str, workload: Workload, measurement: Measurement, seconds: float) -> None:
    status = measurement.status.value
    if measurement.status is Status.OK and measurement.summary is not None:
        s = measurement.summary
        status = f"p50 {s.p50_ms:.2f} ms  p99 {s.p99_ms:.2f} ms  {s.throughput_rps:.0f} req/s"
    elif measurement.status is Status.OK:
        status = f"rss {measurement.metric('rss_mb') or 0:.1f} MB"
    elif measurement.error:
        status += f": {measurement.error.splitlines()[0]}"
    print(f"  {system:<6} {workload.name:<13} {status}  ({seconds:.0f} s)", file=sys.stderr)


def _run_system(system: System, workloads: list[Workload], results: Results) -> None:
    print(f"== {system.name}", file=sys.stderr)
    try:
        system.start()
    except Unavailable as exc:
        print(f"  {system.name}: not available: {exc}", file=sys.stderr)
        for workload in workloads:
            results[workload.name][system.name] = Measurement(Status.UNAVAILABLE, error=str(exc))
        return
    try:
        for workload in workloads:
            if (workload.fused or workload.batch or workload.partial) and system.name != BRAID:
                reason = (
                    "co-location is braid's; compared with this system's plain chain"
                    if workload.fused
                    else "soft steps and quorums are measured for braid only, against its plain "
                    "shape"
                    if workload.partial
                    else "batching is measured for braid only; compared with its batches of 1"
                )
                results[workload.name][system.name] = Measurement(Status.UNAVAILABLE, error=reason)
                continue
            began = time.monotonic()
            try:
                measurement = system.measure(workload)
            except Exception as exc:  # the harness's boundary: report it and go on
                measurement = Measurement(Status.FAILED, error=f"{type(exc).__name__}: {exc}")
            results[workload.name][system.name] = measurement
            _progress(system.name, workload, measurement, time.monotonic() - began)
    finally:
        system.stop()


def _write(out: Path, document: dict[str, Any], stamp: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2) + "\n"
    path = out / f"{stamp}.json"
    path.write_text(text)
    (out / "latest.json").write_text(text)
    return path


def _report_of(path: Path, systems: Sequence[str]) -> int:
    """Print the table and verdicts of an earlier run, for the systems named."""
    try:
        document = json.loads(path.read_text())
        results = results_from_json(document["results"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"python -m benchmarks: cannot read results from {path}: {exc}", file=sys.stderr)
        return 1
    shown = {w: {s: m for s, m in row.items() if s in systems} for w, row in results.items()}
    print(_report.table(shown))
    print("\ntargets (issues 5 and 11):")
    print(_report.verdict_lines(evaluate(shown)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.report is not None:
        return _report_of(args.report, [n.strip() for n in args.systems.split(",")])
    try:
        workloads = select(n.strip() for n in args.workloads.split(",") if n.strip())
    except UnknownWorkload as exc:
        print(f"python -m benchmarks: {exc}", file=sys.stderr)
        return 2
    log_dir = Path(tempfile.mkdtemp(prefix="braid-bench-"))
    settings = _settings(args, log_dir)
    systems = _systems([n.strip() for n in args.systems.split(",") if n.strip()], settings)
    started = datetime.datetime.now(datetime.UTC)
    load_before = [round(x, 2) for x in os.getloadavg()]
    print(f"benchmarks: logs in {log_dir}", file=sys.stderr)
    results: Results = {w.name: {} for w in workloads}
    for system in systems:
        _run_system(system, workloads, results)
    machine = describe()
    machine["load_average_before"] = load_before
    machine["systems"] = {system.name: system.info() for system in systems}
    config = {k: str(v) for k, v in dataclasses.asdict(settings).items()}
    config.update(
        started=started.isoformat(), seconds=str(round(time.time() - started.timestamp()))
    )
    verdicts = evaluate(results)
    print(_report.table(results))
    print("\ntargets (issues 5 and 11):")
    print(_report.verdict_lines(verdicts))
    document = _report.document(results, verdicts, machine, config)
    path = _write(args.out, document, started.strftime("%Y%m%dT%H%M%SZ"))
    print(f"\nwrote {path} and {args.out / 'latest.json'}")
    return 0
