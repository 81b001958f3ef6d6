"""``braid operator``: run the operator, with settings from flags and the environment.

Every flag has an environment variable (``BRAID_*``), so that the Helm chart configures the
operator through env. Logging goes to standard error as text or as one JSON object per line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
from typing import Any

from braid.cli._output import fail
from braid.cli._render import add_settings_arguments, settings_from_args
from braid.operator import KopfLogFilter, OperatorError, run_operator

# kopf pauses every operator of one priority when two meet; a random one makes them distinct.
_PRIORITY_RANGE = 2**31 - 1


class JsonFormatter(logging.Formatter):
    """One JSON object per log record: time, level, logger, message (and the error)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _port(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else default


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "operator",
        help="run the braid operator (needs the operator extra and cluster credentials)",
        description=(
            "Reconcile DeploymentGraphs into Deployments, Services and ConfigMaps. Credentials "
            "come from the pod's service account, else from the kubeconfig."
        ),
    )
    namespaces = os.environ.get("BRAID_NAMESPACES", "")
    parser.add_argument(
        "--namespace",
        dest="namespaces",
        action="append",
        default=[n.strip() for n in namespaces.split(",") if n.strip()],
        help="namespace (or glob) to watch; repeat for several; none: the whole cluster "
        "(env BRAID_NAMESPACES, comma-separated)",
    )
    parser.add_argument(
        "--peering",
        default=os.environ.get("BRAID_PEERING") or None,
        help="kopf peering object for several replicas (one active at a time); unset: "
        "standalone (env BRAID_PEERING)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=_port("BRAID_PRIORITY", 0) or None,
        help="peering priority; the highest live one is active (env BRAID_PRIORITY; "
        "default: random)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=_port("BRAID_METRICS_PORT", 8080),
        help="port of the Prometheus /metrics endpoint, 0 disables (env BRAID_METRICS_PORT; "
        "default %(default)s)",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        default=_port("BRAID_HEALTH_PORT", 8081),
        help="port of /healthz (env BRAID_HEALTH_PORT; default %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=os.environ.get("BRAID_LOG_FORMAT", "text"),
        help="log lines as text or JSON (env BRAID_LOG_FORMAT; default %(default)s)",
    )
    parser.add_argument(
        "--autoscale-seconds",
        type=float,
        default=float(os.environ.get("BRAID_AUTOSCALE_SECONDS", "1")),
        help="seconds between autoscaling decisions (env BRAID_AUTOSCALE_SECONDS; "
        "default %(default)s)",
    )
    add_settings_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    for handler in logging.getLogger().handlers:
        handler.addFilter(KopfLogFilter())
        if args.log_format == "json":
            handler.setFormatter(JsonFormatter())
    priority = args.priority if args.priority is not None else secrets.randbelow(_PRIORITY_RANGE)
    try:
        settings = settings_from_args(
            args,
            namespaces=tuple(args.namespaces),
            peering_name=args.peering,
            priority=priority,
            metrics_port=args.metrics_port,
            health_port=args.health_port,
            autoscale_seconds=args.autoscale_seconds,
        )
        asyncio.run(run_operator(settings))
    except ImportError as exc:
        return fail(f"the operator needs kopf: pip install 'braid[operator]' ({exc})")
    except OperatorError as exc:
        return fail(str(exc))
    return 0
