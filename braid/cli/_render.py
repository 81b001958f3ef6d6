"""``braid render FILE``: print the objects the operator would apply for a graph, as YAML.

Like ``helm template``: the output is exactly what :func:`braid.operator.render` returns with the
same settings, minus what only the cluster knows (the graph's uid for ownerReferences, and the
code and replicas that running Deployments pin). Settings come from flags, then env, then the
defaults, the same flags ``braid operator`` takes.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import yaml
from pydantic import ValidationError

from braid.cli._output import fail
from braid.operator import DEFAULT_RUNTIME_IMAGE, OperatorError, OperatorSettings, render
from braid.spec import load_graph

_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def env_flag_on(name: str) -> bool:
    """A flag that is on unless the variable says false (unset means on)."""
    return os.environ.get(name, "").strip().lower() not in {"0", "false", "no", "off"}


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The rendering settings, shared by ``braid render`` and ``braid operator``."""
    parser.add_argument(
        "--runtime-image",
        default=os.environ.get("BRAID_RUNTIME_IMAGE", DEFAULT_RUNTIME_IMAGE),
        help="braid's image for sidecars, the ingress and nodes without an image "
        "(env BRAID_RUNTIME_IMAGE; default %(default)s)",
    )
    parser.add_argument(
        "--gpu-resource-name",
        default=os.environ.get("BRAID_GPU_RESOURCE_NAME", "nvidia.com/gpu"),
        help="extended resource of a whole GPU (env BRAID_GPU_RESOURCE_NAME; default %(default)s)",
    )
    parser.add_argument(
        "--pod-disruption-budgets",
        action="store_true",
        default=env_flag("BRAID_POD_DISRUPTION_BUDGETS"),
        help="render a PodDisruptionBudget per node and ingress (env BRAID_POD_DISRUPTION_BUDGETS)",
    )
    parser.add_argument(
        "--network-policies",
        action="store_true",
        default=env_flag("BRAID_NETWORK_POLICIES"),
        help="render a NetworkPolicy that admits only the graph's own pods to its nodes "
        "(env BRAID_NETWORK_POLICIES)",
    )
    parser.add_argument(
        "--no-graph-page",
        dest="graph_page",
        action="store_false",
        default=env_flag_on("BRAID_GRAPH_PAGE"),
        help="render ingresses without the live graph page at /-/graph "
        "(env BRAID_GRAPH_PAGE=false)",
    )


def tracing_env() -> dict[str, str]:
    """``BRAID_TRACING_ENV``: a JSON object of OTEL_* variables for the rendered containers."""
    text = os.environ.get("BRAID_TRACING_ENV", "").strip()
    if not text:
        return {}
    try:
        env = json.loads(text)
    except ValueError as exc:
        raise OperatorError(f"BRAID_TRACING_ENV is not JSON: {exc}") from None
    if not isinstance(env, dict):
        raise OperatorError('BRAID_TRACING_ENV must be a JSON object: {"OTEL_...": "value"}')
    return {str(name): str(value) for name, value in env.items()}


def settings_from_args(args: argparse.Namespace, **more: Any) -> OperatorSettings:
    """The settings from the flags and env; an OperatorError says what is wrong in them."""
    more.setdefault("tracing_env", tracing_env())
    try:
        return OperatorSettings(
            runtime_image=args.runtime_image,
            gpu_resource_name=args.gpu_resource_name,
            pod_disruption_budgets=args.pod_disruption_budgets,
            network_policies=args.network_policies,
            graph_page=args.graph_page,
            **more,
        )
    except ValidationError as exc:
        problems = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
        raise OperatorError(f"invalid operator settings: {problems}") from None


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render",
        help="print the Kubernetes objects the operator would apply for a graph",
        description=(
            "Print the Kubernetes objects the operator applies for a DeploymentGraph manifest, "
            "as a YAML stream (like `helm template`). ownerReferences are left out: they need "
            "the graph's uid, which only the cluster assigns."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="manifest file ('-' reads standard input)")
    parser.add_argument(
        "--namespace",
        "-n",
        help="namespace of a graph whose manifest names none (default: default)",
    )
    parser.add_argument(
        "--output", choices=["yaml", "json"], default="yaml", help="output format (default yaml)"
    )
    add_settings_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    graph = load_graph(args.file)
    namespace = graph.metadata.namespace
    if namespace and args.namespace and namespace != args.namespace:
        return fail(
            f'{args.file}: the manifest\'s namespace "{namespace}" does not match '
            f'--namespace "{args.namespace}"'
        )
    if not namespace:
        meta = graph.metadata.model_copy(update={"namespace": args.namespace or "default"})
        graph = graph.model_copy(update={"metadata": meta})
    try:
        objects = render(graph, settings_from_args(args))
    except OperatorError as exc:
        return fail(f"{args.file}: {exc}")
    if args.output == "json":
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
    else:
        print(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True), end="")
    return 0
