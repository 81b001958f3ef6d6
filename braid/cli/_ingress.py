"""``braid ingress``: serve graphs over HTTP and gRPC (for braid run and the ingress pod)."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braid.cli import _shared_memory, _tracing
from braid.cli._output import fail
from braid.runtime import (
    BraidRuntimeError,
    ClusterAccess,
    IngressSettings,
    TlsFiles,
    serve_ingress,
)
from braid.spec import DRAIN_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from braid.runtime import EntryReplica


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingress",
        help="serve graphs over HTTP and gRPC (started by braid run and by the ingress pod)",
        description=(
            "Serve one or more graphs: HTTP at each graph's route prefix, gRPC braid.v1.Graph "
            "with health and reflection, and Prometheus metrics."
        ),
    )
    parser.add_argument(
        "--graph",
        type=Path,
        action="append",
        required=True,
        metavar="FILE",
        help="a graph manifest (repeat for several graphs)",
    )
    parser.add_argument(
        "--http", default="127.0.0.1:8000", help="HTTP address (default 127.0.0.1:8000; 'off')"
    )
    parser.add_argument(
        "--grpc", default="127.0.0.1:9000", help="gRPC address (default 127.0.0.1:9000; 'off')"
    )
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    parser.add_argument(
        "--peers",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="peers file of braid run: one for all graphs, or one per --graph in order",
    )
    parser.add_argument(
        "--discovery",
        choices=["static", "kubernetes"],
        default="static",
        help="how to find the nodes' replicas (default static: --peers)",
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the ports with the sockets braid run reserved them with (SO_REUSEPORT)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=DRAIN_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"on SIGTERM, let requests in flight finish for this long (default "
        f"{DRAIN_TIMEOUT_SECONDS})",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve HTTPS on the HTTP address with this PEM certificate chain (with --tls-key)",
    )
    parser.add_argument(
        "--tls-key", type=Path, metavar="FILE", help="the PEM private key of --tls-cert"
    )
    parser.add_argument(
        "--no-graph-page",
        dest="graph_page",
        action="store_false",
        help="do not serve the live graph pages at /-/graph",
    )
    parser.add_argument(
        "--replica-metrics-port",
        type=int,
        metavar="PORT",
        help="with --discovery kubernetes: the port of every replica's metrics (for /-/graph)",
    )
    parser.add_argument(
        "--code-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="import graphs' own apps (spec.ingress.http.app) from here: one folder for all "
        "graphs, or one per --graph in order (default: the Python path only)",
    )
    parser.add_argument(
        "--entry-node",
        metavar="NAME",
        help="also host a replica of this node or group of the (only) graph in this process, "
        "called without gRPC (braid run --entry-in-ingress; with --entry-listen)",
    )
    parser.add_argument(
        "--entry-listen",
        metavar="HOST:PORT",
        help="the gRPC address of the --entry-node replica (peers fetch its results there)",
    )
    parser.add_argument(
        "--entry-code-dir",
        type=Path,
        metavar="DIR",
        help="import the --entry-node code from this folder",
    )
    add_graph_address_flag(parser)
    _shared_memory.add_flags(parser, peers=False)
    parser.add_argument(
        "--local-calls-dir",
        type=Path,
        metavar="DIR",
        help="call replicas that serve a Unix socket in DIR over it instead of gRPC (every "
        "process on one host: braid run; docs/decisions/0025-local-calls.md)",
    )
    parser.set_defaults(handler=run)


def add_graph_address_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--graph-address",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="the gRPC address of the ingress of graph NAME, which a sub-graph step calls and "
        "which is not served here (repeat for several graphs)",
    )


def parse_graph_addresses(texts: list[str]) -> dict[str, str]:
    """``NAME=HOST:PORT`` flags as a map; ``ValueError`` says which one is malformed."""
    found: dict[str, str] = {}
    for text in texts:
        name, equals, address = text.partition("=")
        if not equals or not name or parse_address(address, "--graph-address") is None:
            raise ValueError(f"--graph-address {text!r} is not NAME=HOST:PORT")
        found[name] = address
    return found


def parse_address(text: str, flag: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (or ``:PORT``, or ``off``); ``ValueError`` says what is wrong."""
    if text.lower() == "off":
        return None
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{flag} {text!r} is not HOST:PORT (e.g. 127.0.0.1:8000)")
    return (host.strip("[]") or "127.0.0.1", int(port))


def _cluster(args: argparse.Namespace) -> ClusterAccess | None:
    if args.discovery != "kubernetes":
        return None
    namespace = os.environ.get("BRAID_POD_NAMESPACE") or (
        Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip()
    )
    return ClusterAccess(
        host=os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc"),
        port=int(os.environ.get("KUBERNETES_SERVICE_PORT", "443")),
        namespace=namespace,
    )


def _tls(args: argparse.Namespace) -> TlsFiles | None:
    if args.tls_cert is None and args.tls_key is None:
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise ValueError("--tls-cert and --tls-key go together: give both, or neither")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if not path.is_file():
            raise ValueError(f"{flag} {path}: no such file")
    return TlsFiles(certfile=args.tls_cert, keyfile=args.tls_key)


def run(args: argparse.Namespace) -> int:
    try:
        http = parse_address(args.http, "--http")
        grpc = parse_address(args.grpc, "--grpc")
        cluster = _cluster(args)
        tls = _tls(args)
        graph_addresses = parse_graph_addresses(args.graph_address)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    settings = IngressSettings(
        graph_files=tuple(args.graph),
        peers_files=tuple(args.peers),
        http=http,
        grpc=grpc,
        metrics_port=args.metrics_port,
        discovery=args.discovery,
        cluster=cluster,
        reuse_port=args.reuse_port,
        drain_timeout=args.drain_timeout,
        tls=tls,
        graph_page=args.graph_page,
        replica_metrics_port=args.replica_metrics_port,
        shared_memory=_shared_memory.settings(args),
        code_dirs=tuple(args.code_dir),
        graph_addresses=graph_addresses,
        local_calls_dir=args.local_calls_dir,
    )
    try:
        companion = _entry(args, settings)
    except ValueError as exc:
        return fail(str(exc))
    try:
        _tracing.start("ingress")
        asyncio.run(serve_ingress(settings, companion))
    except OSError as exc:
        return fail(f"cannot serve: {exc}")
    except BraidRuntimeError as exc:
        return fail(str(exc))
    return 0


def _entry(args: argparse.Namespace, settings: IngressSettings) -> EntryReplica | None:
    """The entry replica that this ingress hosts (``--entry-node``), or None."""
    if args.entry_node is None:
        return None
    if args.entry_listen is None or len(settings.graph_files) != 1:
        raise ValueError("--entry-node needs --entry-listen and exactly one --graph")
    if len(settings.peers_files) != 1:
        raise ValueError("--entry-node needs the graph's --peers file")
    # Imported here: an ingress without an entry replica loads none of the replica's code.
    from braid.runtime import EntryReplica, ReplicaSettings  # noqa: PLC0415

    return EntryReplica(
        ReplicaSettings(
            graph_file=settings.graph_files[0],
            node=args.entry_node,
            listen=args.entry_listen,
            peers_file=settings.peers_files[0],
            code_dir=args.entry_code_dir,
            reuse_port=settings.reuse_port,
            drain_seconds=0.0,  # the ingress has drained already; nobody else picks it
            drain_timeout=1.0,
            shared_memory=settings.shared_memory,
            shared_memory_peers=settings.shared_memory is not None,
            local_calls_dir=settings.local_calls_dir,
        )
    )
