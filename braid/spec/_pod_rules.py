"""The rules of a node's pod settings: one source each, and nothing that would break braid's own.

braid's containers, volumes, labels and security settings stay intact whatever a node asks for:
a volume or mount that would shadow braid's, a label that would move a pod out of its
Deployment's selector, an annotation braid writes, a variable that would override braid's, are
each a problem with its field path.
"""

from __future__ import annotations

import re

from braid.spec._errors import Problem
from braid.spec._graphs import Node
from braid.spec._pods import PERCENT_PATTERN
from braid.spec._views import check_unique

#: Volumes braid adds to every node's pods (the graph, the worker's socket, /tmp).
RESERVED_VOLUME_NAMES = frozenset({"graph", "braid-run", "tmp"})
#: Paths braid mounts (or Kubernetes mounts the service-account token at) in its containers.
RESERVED_MOUNT_PATHS = (
    "/etc/braid",
    "/var/run/braid",
    "/tmp",  # noqa: S108 - braid's emptyDir, not a temporary file
    "/var/run/secrets/kubernetes.io/serviceaccount",
)
#: Label keys braid sets on every pod; its Deployments select pods by some of them.
RESERVED_LABELS = frozenset({"app.kubernetes.io/managed-by", "app.kubernetes.io/part-of"})
#: Key prefixes braid owns on labels and annotations.
RESERVED_PREFIXES = ("braid.dev/", "prometheus.io/")
_PERCENT = re.compile(PERCENT_PATTERN)


def check_pod(path: str, node: Node) -> list[Problem]:
    """Every problem of one node's pod settings."""
    problems = _check_env_sources(path, node)
    problems += _check_volumes(path, node)
    problems += _check_mounts(path, node)
    problems += _check_metadata(path, node)
    problems += _check_rollout(path, node)
    return problems


def _check_env_sources(path: str, node: Node) -> list[Problem]:
    problems: list[Problem] = []
    for index, var in enumerate(node.env):
        if var.value_from is None:
            continue
        where = f"{path}.env[{index}]"
        if var.value:
            problems.append(Problem(where, "set either value or valueFrom, not both"))
        sources = var.value_from.model_dump(by_alias=True, exclude_none=True)
        if len(sources) != 1:
            problems.append(
                Problem(
                    f"{where}.valueFrom",
                    "set exactly one of secretKeyRef, configMapKeyRef, fieldRef and "
                    f"resourceFieldRef (found {len(sources)})",
                )
            )
    for index, source in enumerate(node.env_from):
        where = f"{path}.envFrom[{index}]"
        if (source.secret_ref is None) == (source.config_map_ref is None):
            problems.append(Problem(where, "set exactly one of secretRef and configMapRef"))
        if source.prefix and source.prefix.startswith("BRAID_"):
            problems.append(
                Problem(f"{where}.prefix", "variables starting with BRAID_ are reserved for braid")
            )
    return problems


def _check_volumes(path: str, node: Node) -> list[Problem]:
    problems = check_unique(f"{path}.volumes", [volume.name for volume in node.volumes], "volume")
    for index, volume in enumerate(node.volumes):
        where = f"{path}.volumes[{index}]"
        if volume.name in RESERVED_VOLUME_NAMES:
            reserved = ", ".join(sorted(RESERVED_VOLUME_NAMES))
            problems.append(
                Problem(f"{where}.name", f'"{volume.name}" is braid\'s own volume ({reserved})')
            )
        sources = volume.sources()
        if len(sources) != 1:
            problems.append(
                Problem(
                    where,
                    "set exactly one of persistentVolumeClaim, hostPath, emptyDir, secret and "
                    f"configMap (found {', '.join(sources) or 'none'})",
                )
            )
    return problems


def _overlaps(path: str, reserved: str) -> bool:
    mine, theirs = path.rstrip("/") or "/", reserved.rstrip("/")
    return (
        mine == theirs
        or theirs.startswith(mine + "/")
        or mine.startswith(theirs + "/")
        or (mine == "/")
    )


def _check_mounts(path: str, node: Node) -> list[Problem]:
    names = {volume.name for volume in node.volumes}
    paths = [mount.mount_path.rstrip("/") or "/" for mount in node.volume_mounts]
    problems = check_unique(f"{path}.volumeMounts", paths, "mount path")
    for index, mount in enumerate(node.volume_mounts):
        where = f"{path}.volumeMounts[{index}]"
        if mount.name not in names:
            problems.append(
                Problem(f"{where}.name", f'no volume "{mount.name}" in this node\'s volumes')
            )
        clash = next((p for p in RESERVED_MOUNT_PATHS if _overlaps(mount.mount_path, p)), None)
        if clash is not None:
            problems.append(
                Problem(
                    f"{where}.mountPath",
                    f"\"{mount.mount_path}\" would cover braid's or Kubernetes' own mount {clash}",
                )
            )
    return problems


def _reserved(key: str) -> bool:
    return key in RESERVED_LABELS or key.startswith(RESERVED_PREFIXES)


def _check_metadata(path: str, node: Node) -> list[Problem]:
    problems = [
        Problem(f"{path}.podLabels.{key}", f'"{key}" is a label braid sets on its pods')
        for key in node.pod_labels
        if _reserved(key)
    ]
    problems += [
        Problem(f"{path}.podAnnotations.{key}", f'"{key}" is an annotation braid sets')
        for key in node.pod_annotations
        if key.startswith(RESERVED_PREFIXES)
    ]
    return problems


def _is_zero(value: int | str | None) -> bool:
    return value in (0, "0%")


def _check_rollout(path: str, node: Node) -> list[Problem]:
    rollout = node.rollout
    if rollout is None:
        return []
    problems = [
        Problem(
            f"{path}.rollout.{field}", f'"{value}" is neither a count nor a percentage like "25%"'
        )
        for field, value in (
            ("maxUnavailable", rollout.max_unavailable),
            ("maxSurge", rollout.max_surge),
        )
        if isinstance(value, str) and not _PERCENT.match(value)
    ]
    if _is_zero(rollout.max_unavailable) and _is_zero(rollout.max_surge):
        problems.append(
            Problem(
                f"{path}.rollout",
                "maxUnavailable and maxSurge cannot both be 0: the rollout could never start",
            )
        )
    return problems
