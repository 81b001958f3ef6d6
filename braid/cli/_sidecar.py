"""``braid sidecar`` and ``braid worker``: run one replica of a node (for pods and braid run)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from braid.cli import _shared_memory, _tracing
from braid.cli._output import fail
from braid.runtime import (
    BraidRuntimeError,
    ClusterAccess,
    LoadError,
    ReplicaSettings,
    serve_replica,
)
from braid.spec import DRAIN_TIMEOUT_SECONDS


def register(subparsers: Any) -> None:
    sidecar = subparsers.add_parser(
        "sidecar",
        help="run the sidecar of one replica (started by braid run and by pods)",
        description="Serve one replica of a node: braid's gRPC API, peer resolution, metrics.",
    )
    _common(sidecar)
    sidecar.add_argument(
        "--listen", required=True, help="gRPC address to listen on, e.g. 127.0.0.1:7101"
    )
    sidecar.add_argument(
        "--advertise", help="address peers use to reach this replica (default: --listen)"
    )
    sidecar.add_argument(
        "--worker-socket", type=Path, help="forward calls to a braid worker on this Unix socket"
    )
    sidecar.add_argument(
        "--http-port", type=int, help="the node is an HTTP model server on this local port"
    )
    sidecar.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the ports with the socket braid run reserved them with (SO_REUSEPORT)",
    )
    sidecar.set_defaults(handler=run_sidecar)
    worker = subparsers.add_parser(
        "worker",
        help="host a node's code behind a Unix socket (the model container of a pod)",
        description=(
            "Construct the node's class and serve its methods to the sidecar over a Unix socket."
        ),
    )
    _common(worker)
    worker.add_argument("--socket", type=Path, required=True, help="Unix socket path to serve on")
    worker.add_argument(
        "--advertise",
        help="the sidecar's address (host:port), which peers use to fetch values this worker "
        "holds; without it, responses that user code passes on are awaited first",
    )
    worker.add_argument(
        "--health-port",
        type=int,
        help="also serve gRPC health on this TCP port (the model container's liveness probe)",
    )
    worker.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the health port with the socket braid run reserved it with (SO_REUSEPORT)",
    )
    worker.add_argument(
        "--health-host",
        default="0.0.0.0",  # noqa: S104 - kubelet probes the pod IP; health carries no data
        help="address of the health port (default 0.0.0.0)",
    )
    worker.set_defaults(handler=run_worker)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--graph", type=Path, required=True, help="the graph manifest (or compiled graph.json)"
    )
    parser.add_argument("--node", required=True, help="the node this replica serves")
    parser.add_argument(
        "--code-dir", type=Path, help="directory to import node code from (default: the graph's)"
    )
    parser.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    parser.add_argument("--peers", type=Path, help="peers file of braid run (static discovery)")
    parser.add_argument(
        "--discovery",
        choices=["static", "kubernetes"],
        default="static",
        help="how to find other nodes' replicas",
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=2.0, help="wait after NOT_SERVING before stopping"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=DRAIN_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help="then let calls in flight finish for at most this long",
    )
    _shared_memory.add_flags(parser)
    parser.add_argument(
        "--local-calls-dir",
        type=Path,
        metavar="DIR",
        help="also serve unary calls on a Unix socket in DIR, and call peers that do so over "
        "theirs (every process on one host: braid run; docs/decisions/0025-local-calls.md)",
    )
    parser.add_argument(
        "--termination-log",
        type=Path,
        metavar="FILE",
        help="write why the replica could not start to FILE (a pod's terminationMessagePath; "
        "braid run passes it on to requests held for the node)",
    )


def _cluster(args: argparse.Namespace) -> ClusterAccess | None:
    if args.discovery != "kubernetes":
        return None
    namespace = (
        os.environ.get("BRAID_POD_NAMESPACE")
        or Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip()
    )
    return ClusterAccess(
        host=os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc"),
        port=int(os.environ.get("KUBERNETES_SERVICE_PORT", "443")),
        namespace=namespace,
    )


def _settings(args: argparse.Namespace, **extra: Any) -> ReplicaSettings:
    advertise = getattr(args, "advertise", None)
    in_pod = os.environ.get("BRAID_POD_IP") and args.discovery == "kubernetes"
    if advertise is None and in_pod and not extra.get("is_worker"):
        advertise = f"{os.environ['BRAID_POD_IP']}:{extra.get('listen', '').rsplit(':', 1)[-1]}"
    return ReplicaSettings(
        graph_file=args.graph,
        node=args.node,
        code_dir=args.code_dir or args.graph.resolve().parent,
        metrics_port=args.metrics_port,
        peers_file=args.peers,
        cluster=_cluster(args),
        drain_seconds=args.drain_seconds,
        drain_timeout=args.drain_timeout,
        advertise=advertise,
        shared_memory=_shared_memory.settings(args),
        shared_memory_peers=args.shared_memory_peers,
        local_calls_dir=getattr(args, "local_calls_dir", None),
        **extra,
    )


def run_sidecar(args: argparse.Namespace) -> int:
    settings = _settings(
        args,
        listen=args.listen,
        worker_socket=args.worker_socket,
        http_port=args.http_port,
        reuse_port=args.reuse_port,
    )
    return _serve(settings, args.termination_log)


def run_worker(args: argparse.Namespace) -> int:
    health = f"{args.health_host}:{args.health_port}" if args.health_port else None
    settings = _settings(
        args,
        listen=f"unix:{args.socket}",
        is_worker=True,
        health_listen=health,
        reuse_port=args.reuse_port,
    )
    return _serve(settings, args.termination_log)


def _serve(settings: ReplicaSettings, termination_log: Path | None) -> int:
    """Serve one replica; a start-up failure is one line (plus the user's own frames), also
    written to ``termination_log`` when given."""
    try:
        role = "worker" if settings.is_worker else "sidecar"
        _tracing.start(role, node=settings.node, replica=settings.advertise or settings.listen)
        asyncio.run(serve_replica(settings))
    except LoadError as exc:
        _record(termination_log, exc.message)
        return fail(f"{exc.message}{exc.user_frames}")
    except BraidRuntimeError as exc:  # its message names the node
        _record(termination_log, str(exc))
        return fail(str(exc))
    except OSError as exc:
        message = f'node "{settings.node}" cannot start: {exc}'
        _record(termination_log, message)
        return fail(message)
    return 0


def _record(path: Path | None, message: str) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):  # the reason still goes to stderr
        path.write_text(message)
