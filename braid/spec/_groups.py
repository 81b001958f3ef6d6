"""Co-location groups: what a group's nodes share, and the node a group is deployed as.

A group (``spec.groups``) is deployed as one unit: one Deployment, one pod template, one process
per replica hosting every member (docs/decisions/0009-co-location.md). Its members keep what is
their own (code, init, handles, userConfig, version, admission limits); the fields of
:data:`SHARED_FIELDS` describe the pod and its scaling, so the group has one value of each:
whatever its members set, as the graph's rules require that no two members set different values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from braid.spec._graphs import DeploymentGraph, Group, Node

#: Node fields that describe the pod or its scaling, so a group's members share them.
SHARED_FIELDS = (
    "image",
    "replicas",
    "autoscaling",
    "resources",
    "env",
    "env_from",
    "volumes",
    "volume_mounts",
    "node_selector",
    "tolerations",
    "affinity",
    "topology_spread_constraints",
    "service_account_name",
    "image_pull_secrets",
    "priority_class_name",
    "runtime_class_name",
    "startup_seconds",
    "termination_grace_period_seconds",
    "pod_annotations",
    "pod_labels",
    "rollout",
    "local",
)


@dataclass(frozen=True)
class Host:
    """What one Deployment (or one ``braid run`` process per replica) hosts.

    ``node`` carries the pod's settings and its name is the replica's ``--node``: the node
    itself, or for a group a node named after the group with the members' shared settings.
    """

    node: Node
    members: tuple[Node, ...]
    group: Group | None = None

    @property
    def name(self) -> str:
        return self.node.name


def shared_value(node: Node, field: str) -> Any:
    """The value of a shared field, or ``None`` when the node leaves it at its default."""
    value = getattr(node, field)
    default = Node.model_fields[field].get_default(call_default_factory=True)
    return None if value == default else value


def shared_alias(field: str) -> str:
    """The manifest's name of a node field (``env_from`` -> ``envFrom``)."""
    return Node.model_fields[field].alias or field


def group_host(graph: DeploymentGraph, group: Group) -> Node:
    """The node a group is deployed as: its name, and the shared settings its members set.

    Its version is every member's (``a=1,b=2``) when every member sets one, so that the pods
    roll when any member's version changes; otherwise none, and any code change rolls them.
    """
    members = [graph.node(name) for name in group.nodes]
    values: dict[str, Any] = {}
    for field in SHARED_FIELDS:
        for member in members:
            value = shared_value(member, field)
            if value is not None:
                values[field] = value
                break
    versions = [member.version for member in members]
    version = None
    if all(versions):
        version = ",".join(f"{m.name}={m.version}" for m in members)
    first = members[0]
    return first.model_copy(update={"name": group.name, "version": version, **values})


def hosts(graph: DeploymentGraph) -> list[Host]:
    """Every deployable unit of the graph: each group, then each node outside any group, in
    the order of the file (a group where its first member is)."""
    found: list[Host] = []
    placed: set[str] = set()
    for node in graph.spec.nodes:
        if node.name in placed:
            continue
        group = graph.group_of(node.name)
        if group is None:
            found.append(Host(node, (node,)))
            continue
        members = tuple(graph.node(name) for name in group.nodes)
        placed.update(group.nodes)
        found.append(Host(group_host(graph, group), members, group))
    return found


def host_of(graph: DeploymentGraph, name: str) -> Host:
    """The host called ``name`` (a group, or a node outside any group); ``KeyError`` if none."""
    for host in hosts(graph):
        if host.name == name:
            return host
    raise KeyError(name)
