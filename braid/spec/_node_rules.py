"""The rules of names and of each node: DNS-1123 names, class or http, scaling, handles, env,
tolerations, GPUs, and the ingress's route prefix.
"""

from __future__ import annotations

import re

from braid.spec._errors import Problem
from braid.spec._graphs import (
    MAX_NAME_LENGTH,
    NODE_NAME_PATTERN,
    AutoscalingMode,
    GpuSharing,
    Node,
    TolerationOperator,
)
from braid.spec._pod_rules import check_pod
from braid.spec._references import CALL_METHOD
from braid.spec._views import GraphView, check_unique, did_you_mean

_NODE_NAME = re.compile(NODE_NAME_PATTERN)
_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_ROUTE_PREFIX = re.compile(
    r"^/([A-Za-z0-9._~!$&'()*+,;=:@%-]+(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*)?$"
)
# Suffixes braid adds to the graph's name for the objects it renders ("-ingress" is longest).
_LONGEST_SUFFIX = len("-ingress")


def check_graph_name(view: GraphView) -> list[Problem]:
    if view.name is None:
        return []
    if not _NODE_NAME.match(view.name) or len(view.name) > MAX_NAME_LENGTH - _LONGEST_SUFFIX:
        return [
            Problem(
                "metadata.name",
                f'"{view.name}" is not a valid graph name: use lowercase letters, digits and '
                f"'-', start with a letter, at most {MAX_NAME_LENGTH - _LONGEST_SUFFIX} characters",
            )
        ]
    return []


def check_node_names(view: GraphView) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for index, node in view.nodes:
        path = f"spec.nodes[{index}].name"
        too_long = len(node.name) > MAX_NAME_LENGTH
        if not _NODE_NAME.match(node.name) or too_long:
            problems.append(
                Problem(
                    path,
                    f'"{node.name}" is not a valid node name: use lowercase letters, digits and '
                    "'-', start with a letter and end with a letter or digit"
                    + (f", at most {MAX_NAME_LENGTH} characters" if too_long else "")
                    + " (a DNS-1123 label)",
                )
            )
        elif view.name and len(f"{view.name}-{node.name}") > MAX_NAME_LENGTH:
            problems.append(
                Problem(
                    path,
                    f'"{view.name}-{node.name}" (graph name and node name) is longer than '
                    f"{MAX_NAME_LENGTH} characters, too long for a Kubernetes Service name; "
                    "shorten the graph or the node name",
                )
            )
        if node.name in first_seen:
            problems.append(
                Problem(
                    path,
                    f'duplicate node name "{node.name}" '
                    f"(first at spec.nodes[{first_seen[node.name]}])",
                )
            )
        first_seen.setdefault(node.name, index)
    return problems


def check_node(view: GraphView, path: str, node: Node) -> list[Problem]:
    problems: list[Problem] = []
    kinds = [node.class_, node.http, node.inference]
    if sum(kind is not None for kind in kinds) != 1:
        problems.append(
            Problem(
                path,
                'set exactly one of "class" (Python code), "http" (an HTTP model server) and '
                '"inference" (an Open Inference Protocol server)',
            )
        )
    if node.class_ is not None and not _IMPORT_PATH.match(node.class_):
        problems.append(
            Problem(
                f"{path}.class",
                f'"{node.class_}" is not an import path; write "module.sub:Attribute"',
            )
        )
    if node.replicas is not None and node.autoscaling is not None:
        problems.append(Problem(f"{path}.replicas", "set either replicas or autoscaling, not both"))
    if node.autoscaling and node.autoscaling.min_replicas > node.autoscaling.max_replicas:
        problems.append(
            Problem(
                f"{path}.autoscaling.minReplicas",
                f"minReplicas ({node.autoscaling.min_replicas}) is greater than maxReplicas "
                f"({node.autoscaling.max_replicas})",
            )
        )
    problems += _check_autoscaling(path, node)
    problems += check_pod(path, node)
    problems += _check_handles(view, path, node)
    problems += _check_env(path, node)
    problems += _check_tolerations(path, node)
    problems += _check_gpu(path, node)
    if node.http is not None:
        problems += check_unique(
            f"{path}.http.methods", [m.name for m in node.http.methods], "method"
        )
    problems += _check_methods(path, node)
    problems += _check_multiplexing(path, node)
    return problems


def _check_methods(path: str, node: Node) -> list[Problem]:
    """Method options (batching) need Python code, public methods, and room for a batch."""
    problems = check_unique(f"{path}.methods", [m.name for m in node.methods], "method")
    if node.methods and node.http is not None:
        problems.append(
            Problem(
                f"{path}.methods",
                "method options (batching) apply to Python code; an HTTP model server batches "
                "by itself",
            )
        )
    for index, method in enumerate(node.methods):
        where = f"{path}.methods[{index}]"
        if method.name.startswith("_") and method.name != CALL_METHOD:
            problems.append(
                Problem(f"{where}.name", f'"{method.name}" is private; a flow calls public methods')
            )
        batching = method.batching
        if batching is not None and batching.max_batch_size > node.max_ongoing_requests:
            problems.append(
                Problem(
                    f"{where}.batching.maxBatchSize",
                    f"a batch of {batching.max_batch_size} gathers calls running at once, but "
                    f"the replica runs at most maxOngoingRequests ({node.max_ongoing_requests}); "
                    f"raise maxOngoingRequests to {batching.max_batch_size} or more, or lower "
                    "maxBatchSize",
                )
            )
    return problems


def _check_multiplexing(path: str, node: Node) -> list[Problem]:
    multiplexing = node.multiplexing
    if multiplexing is None:
        return []
    where = f"{path}.multiplexing"
    if node.http is not None:
        return [Problem(where, "multiplexing needs Python code with a loader, not an HTTP server")]
    if multiplexing.loader.startswith("_"):
        return [
            Problem(f"{where}.loader", f'"{multiplexing.loader}" is private; name a public method')
        ]
    if any(m.name == multiplexing.loader for m in node.methods if m.batching is not None):
        return [Problem(f"{where}.loader", "the loader cannot be a batched method")]
    return []


def _check_handles(view: GraphView, path: str, node: Node) -> list[Problem]:
    problems: list[Problem] = []
    if node.server is not None and node.handles:
        kind = "an HTTP model server" if node.http is not None else "an inference"
        problems.append(Problem(f"{path}.handles", f"{kind} node cannot hold handles"))
    for index, target in enumerate(node.handles):
        where = f"{path}.handles[{index}]"
        if target not in view.node_names and view.nodes_known:
            problems.append(
                Problem(where, f'unknown node "{target}"{did_you_mean(target, view.node_names)}')
            )
        elif target == node.name:
            problems.append(Problem(where, "a node cannot hold a handle to itself"))
    problems += check_unique(f"{path}.handles", node.handles, "handle")
    kwargs = {target.replace("-", "_") for target in node.handles}
    for clash in sorted(kwargs & set(node.init)):
        problems.append(
            Problem(
                f"{path}.init.{clash}", f'"{clash}" is both a constructor argument and a handle'
            )
        )
    return problems


def _check_env(path: str, node: Node) -> list[Problem]:
    problems = check_unique(f"{path}.env", [var.name for var in node.env], "variable")
    for index, var in enumerate(node.env):
        if var.name.startswith("BRAID_"):
            problems.append(
                Problem(
                    f"{path}.env[{index}].name",
                    f'"{var.name}": names starting with BRAID_ are reserved for braid',
                )
            )
    return problems


def _check_tolerations(path: str, node: Node) -> list[Problem]:
    return [
        Problem(f"{path}.tolerations[{index}].value", 'must be empty when operator is "Exists"')
        for index, toleration in enumerate(node.tolerations)
        if toleration.operator is TolerationOperator.EXISTS and toleration.value
    ]


def _check_gpu(path: str, node: Node) -> list[Problem]:
    res, where = node.resources, f"{path}.resources"
    message = _gpu_problem(res.gpu, res.gpu_sharing, res.mig_profile)
    if message is None:
        return []
    if message.startswith("migProfile: "):
        return [Problem(f"{where}.migProfile", message.removeprefix("migProfile: "))]
    return [Problem(f"{where}.gpu", message)]


def _gpu_problem(  # noqa: PLR0911 - one early return per rule reads best
    gpu: float | None, sharing: GpuSharing | None, profile: str | None
) -> str | None:
    """What is wrong with a GPU request, or ``None``. A fraction is never rounded."""
    if gpu is None:
        return None if sharing is None and profile is None else "gpuSharing needs a gpu request"
    if gpu <= 0:
        return f"must be a positive number of GPUs, got {gpu:g}"
    if sharing is None:
        if gpu == int(gpu):
            return None
        return (
            f"{gpu:g} is a fraction of a GPU; request a whole number, or name how the GPU is "
            "shared with gpuSharing (timeSlicing, mps or mig; see docs/gpus.md)"
        )
    if gpu >= 1:
        return f"gpuSharing shares one GPU: request a fraction below 1, got {gpu:g}"
    if sharing is GpuSharing.MIG and not profile:
        return 'migProfile: gpuSharing "mig" needs a migProfile such as "1g.5gb"'
    if sharing is not GpuSharing.MIG and profile:
        return 'migProfile: applies only to gpuSharing "mig"'
    return None


def check_route_prefix(view: GraphView) -> list[Problem]:
    prefix = view.route_prefix
    if prefix is None or _ROUTE_PREFIX.match(prefix):
        return []
    return [
        Problem(
            "spec.ingress.http.routePrefix",
            f'"{prefix}" is not a route prefix: '
            'start with "/", no trailing "/", no spaces or query',
        )
    ]


def check_ingress_app(view: GraphView) -> list[Problem]:
    app = view.ingress_app
    if app is None or _IMPORT_PATH.match(app):
        return []
    return [
        Problem(
            "spec.ingress.http.app",
            f'"{app}" is not an import path of an ASGI app; write "module.sub:app"',
        )
    ]


def _check_autoscaling(path: str, node: Node) -> list[Problem]:
    scaling = node.autoscaling
    if scaling is None or scaling.mode is not AutoscalingMode.HPA or scaling.min_replicas > 0:
        return []
    return [
        Problem(
            f"{path}.autoscaling.minReplicas",
            "a HorizontalPodAutoscaler cannot scale to zero; set minReplicas to 1 or more, or use "
            'mode "builtin"',
        )
    ]
