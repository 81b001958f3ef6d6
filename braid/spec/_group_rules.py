"""The rules of co-location groups (``spec.groups``): names, members, and shared settings."""

from __future__ import annotations

import json
import re

from braid.spec._errors import Problem
from braid.spec._graphs import MAX_NAME_LENGTH, NODE_NAME_PATTERN, Group
from braid.spec._groups import SHARED_FIELDS, shared_alias, shared_value
from braid.spec._views import GraphView, did_you_mean

_NAME = re.compile(NODE_NAME_PATTERN)


def check_groups(view: GraphView, groups: list[tuple[int, Group]]) -> list[Problem]:
    problems: list[Problem] = []
    seen_groups: dict[str, int] = {}
    member_of: dict[str, int] = {}
    for index, group in groups:
        path = f"spec.groups[{index}]"
        problems += _check_name(view, f"{path}.name", group, seen_groups)
        seen_groups.setdefault(group.name, index)
        if len(group.nodes) < 2:
            problems.append(
                Problem(
                    f"{path}.nodes",
                    "a group co-locates at least two nodes; a group of one is that node on its "
                    "own: add nodes or remove the group",
                )
            )
        for position, name in enumerate(group.nodes):
            where = f"{path}.nodes[{position}]"
            node = view.nodes_by_name.get(name)
            if name in member_of:
                first = member_of[name]
                problems.append(
                    Problem(
                        where,
                        f'node "{name}" is already in a group (spec.groups[{first}]); a node '
                        "runs in one group at most",
                    )
                )
                continue
            member_of[name] = index
            if node is None:
                if view.nodes_known:
                    hint = did_you_mean(name, view.node_names)
                    problems.append(Problem(where, f'unknown node "{name}"{hint}'))
                continue
            if node.server is not None:
                problems.append(
                    Problem(
                        where,
                        f'node "{name}" is {"an HTTP" if node.http else "an inference"} model '
                        "server, which runs its own server "
                        "process and cannot share one; leave it out of the group",
                    )
                )
        problems += _check_shared(view, f"{path}.nodes", group)
    return problems


def _check_name(view: GraphView, path: str, group: Group, seen: dict[str, int]) -> list[Problem]:
    name = group.name
    if not _NAME.match(name) or len(name) > MAX_NAME_LENGTH:
        return [
            Problem(
                path,
                f'"{name}" is not a valid group name: use lowercase letters, digits and '
                "'-', start with a letter and end with a letter or digit (a DNS-1123 label)",
            )
        ]
    if view.name and len(f"{view.name}-{name}") > MAX_NAME_LENGTH:
        return [
            Problem(
                path,
                f'"{view.name}-{name}" (graph name and group name) is longer than '
                f"{MAX_NAME_LENGTH} characters, too long for a Deployment name",
            )
        ]
    if name in view.node_names:
        return [
            Problem(
                path,
                f"\"{name}\" is also a node's name; a group's Deployment and a node's Service "
                "would share it: name the group differently",
            )
        ]
    if name in seen:
        return [
            Problem(path, f'duplicate group name "{name}" (first at spec.groups[{seen[name]}])')
        ]
    return []


def _check_shared(view: GraphView, path: str, group: Group) -> list[Problem]:
    """Members that set a shared field must agree: the group has one pod template."""
    problems: list[Problem] = []
    members = [view.nodes_by_name[n] for n in dict.fromkeys(group.nodes) if n in view.nodes_by_name]
    for field in SHARED_FIELDS:
        setters: dict[str, str] = {}
        for node in members:
            value = shared_value(node, field)
            if value is not None:
                setters[node.name] = _text(value)
        if len(set(setters.values())) > 1:
            alias = shared_alias(field)
            shown = ", ".join(f'"{name}" ({text})' for name, text in setters.items())
            problems.append(
                Problem(
                    path,
                    f"nodes set different {alias}: {shown}; the nodes of a group share one pod "
                    f"and its scaling, so set {alias} on one of them or the same on all",
                )
            )
    if any(n.replicas is not None for n in members) and any(n.autoscaling for n in members):
        problems.append(
            Problem(
                path,
                "one node sets replicas and another autoscaling; a group scales as one: "
                "choose one of them",
            )
        )
    return problems


def _text(value: object) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
