"""``braid run GRAPH.yaml...``: run graphs on this machine, as processes on loopback.

A GRAPH may also be ``module:attribute`` (or ``file.py:attribute``), a graph declared in Python
with :mod:`braid.authoring`: it is built into a temporary manifest and its node code is imported
from the folder of the module that declared it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import tempfile
from pathlib import Path
from typing import Any

from braid.authoring import AuthoringError
from braid.cli._build import built_manifest, is_app_reference
from braid.cli._ingress import add_graph_address_flag, parse_address, parse_graph_addresses
from braid.cli._output import fail
from braid.cli._validate import check_file, check_together
from braid.runtime import (
    BraidRuntimeError,
    GraphFile,
    Launcher,
    LaunchError,
    LaunchSettings,
    Layout,
)
from braid.runtime._local.processes import watch_parent
from braid.runtime._local.scaling import DEFAULT_INTERVAL_SECONDS
from braid.spec import DRAIN_TIMEOUT_SECONDS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run graphs on this machine (one process per replica, plus the ingress)",
        description=(
            "Run graphs locally: one sidecar process per replica of each node and an ingress, "
            "on 127.0.0.1. Prints the endpoints once ready; restarts crashed processes; "
            "Ctrl-C stops everything."
        ),
    )
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="GRAPH",
        help="graph manifests, or MODULE:APP for graphs declared in Python",
    )
    parser.add_argument(
        "--http", default="127.0.0.1:8000", help="HTTP address (default 127.0.0.1:8000; 'off')"
    )
    parser.add_argument(
        "--grpc", default="127.0.0.1:9000", help="gRPC address (default 127.0.0.1:9000; 'off')"
    )
    parser.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity of braid run and its processes (default INFO)",
    )
    parser.add_argument(
        "--status-file",
        type=Path,
        help="once ready, write the endpoints and process ids to this file as JSON (for tools)",
    )
    parser.add_argument(
        "--layout",
        choices=[layout.value for layout in Layout],
        default=Layout.PROCESS.value,
        help="process: one process per replica (default, fastest); pod: a sidecar and a worker "
        "per replica, as in a Kubernetes pod",
    )
    parser.add_argument(
        "--entry-in-ingress",
        action="store_true",
        help="host a replica of the flow's first node (or group) inside the ingress process and "
        "call it without gRPC: one hop less per request, but that node's code then shares the "
        "ingress's process (process layout, one graph; docs/decisions/0024)",
    )
    parser.add_argument(
        "--no-local-calls",
        dest="local_calls",
        action="store_false",
        help="call replicas over gRPC only; by default the processes of the run call each other "
        "over Unix sockets, at a fraction of gRPC's CPU (process layout; docs/decisions/0025)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long every process may take to be ready (default 120; models load for minutes)",
    )
    parser.add_argument(
        "--parent-fd", type=int, help=argparse.SUPPRESS
    )  # run(): stop everything when this pipe closes (the caller died)
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=DRAIN_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="on Ctrl-C or SIGTERM, let requests in flight finish for at most this long "
        f"(default {DRAIN_TIMEOUT_SECONDS})",
    )
    parser.add_argument(
        "--shared-memory-bytes",
        type=int,
        metavar="BYTES",
        help="large values cross between the processes through shared memory (/dev/shm), at "
        "most this much at once (default 4 GiB; 0 turns shared memory off)",
    )
    parser.add_argument(
        "--autoscale-interval",
        type=float,
        default=DEFAULT_INTERVAL_SECONDS,
        metavar="SECONDS",
        help="seconds between autoscaling decisions for nodes with autoscaling "
        f"(default {DEFAULT_INTERVAL_SECONDS})",
    )
    add_graph_address_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="braid-run-") as scratch:
        try:
            sources = [_source(str(path), Path(scratch)) for path in args.files]
        except AuthoringError as exc:
            return fail(str(exc))
        return _run(args, sources)


def _source(argument: str, scratch: Path) -> tuple[Path, Path]:
    """The manifest to run and the folder its code is imported from."""
    if is_app_reference(argument):
        return built_manifest(argument, scratch)
    return Path(argument), Path(argument).resolve().parent


def _run(args: argparse.Namespace, sources: list[tuple[Path, Path]]) -> int:
    outcomes = check_together([check_file(str(path)) for path, _ in sources])
    invalid = [outcome for outcome in outcomes if not outcome.valid]
    if invalid:
        for outcome in invalid:
            print(outcome.as_text())
        return 1
    try:
        http = parse_address(args.http, "--http")
        grpc = parse_address(args.grpc, "--grpc")
        graph_addresses = tuple(parse_graph_addresses(args.graph_address).items())
    except ValueError as exc:
        return fail(str(exc))
    graphs = tuple(
        GraphFile(path=path.resolve(), graph=outcome.graph, code_dir=code_dir)
        for (path, code_dir), outcome in zip(sources, outcomes, strict=True)
        if outcome.graph is not None
    )
    settings = LaunchSettings(
        graphs=graphs,
        http=http,
        grpc=grpc,
        log_level=args.log_level,
        status_file=args.status_file,
        layout=Layout(args.layout),
        startup_timeout=args.startup_timeout,
        drain_timeout=args.drain_timeout,
        shared_memory_bytes=args.shared_memory_bytes,
        autoscale_interval=args.autoscale_interval,
        graph_addresses=graph_addresses,
        entry_in_ingress=args.entry_in_ingress,
        local_calls=args.local_calls,
    )
    try:
        return asyncio.run(_serve(settings, args.parent_fd))
    except (LaunchError, BraidRuntimeError) as exc:
        return fail(str(exc))


async def _serve(settings: LaunchSettings, parent_fd: int | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if parent_fd is not None:
        watch_parent(parent_fd, stop.set)
    launcher = Launcher(settings)
    starting = asyncio.create_task(launcher.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():  # Ctrl-C while starting: start() stops what it started
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return 130
    stopping.cancel()
    starting.result()  # raises LaunchError when start-up failed
    _announce(launcher)
    await stop.wait()
    print("braid: stopping", flush=True)
    await launcher.stop()
    return 0


def _announce(launcher: Launcher) -> None:
    endpoints = launcher.endpoints()
    width = max(len(str(endpoint["name"])) for endpoint in endpoints)
    print(f"braid: ready, {len(launcher.pids())} processes. Ctrl-C stops them all.")
    for endpoint in endpoints:
        http = endpoint["http"] or "(HTTP off)"
        grpc = f"gRPC {endpoint['grpc']}" if endpoint["grpc"] else "(gRPC off)"
        print(f"  {str(endpoint['name']).ljust(width)}  {http}  {grpc}", flush=True)
        if endpoint["page"]:
            print(f"  {''.ljust(width)}  live graph: {endpoint['page']}", flush=True)
