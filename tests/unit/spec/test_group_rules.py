"""Co-location groups (spec.groups): each rule names its field path, and what a group shares."""

from __future__ import annotations

from typing import Any

import pytest

from braid.spec import GraphInvalid, group_host, host_of, hosts, validate_graph


def chain(*nodes: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    names = [node["name"] for node in nodes]
    steps = [{"name": "s0", "call": f"{names[0]}.run", "args": ["$input"]}]
    steps += [
        {"name": f"s{i}", "call": f"{name}.run", "args": [f"$s{i - 1}"]}
        for i, name in enumerate(names[1:], start=1)
    ]
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": list(nodes),
            "groups": groups,
            "flow": {"steps": steps, "output": f"$s{len(names) - 1}"},
        },
    }


def node(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "class": f"m:{name.upper()}", **fields}


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(document)
    return [str(problem) for problem in caught.value.problems]


def test_a_group_is_deployed_as_one_host_with_its_members_shared_settings() -> None:
    graph = validate_graph(
        chain(
            node("a", replicas=3, version="1"),
            node("b", resources={"cpu": "2"}, version="4", userConfig={"k": 1}),
            node("c"),
            groups=[{"name": "front", "nodes": ["a", "b"]}],
        )
    )
    front = host_of(graph, "front")
    assert [m.name for m in front.members] == ["a", "b"]
    assert (front.node.replicas, front.node.resources.cpu) == (3, "2")
    assert front.node.version == "a=1,b=4"
    assert [host.name for host in hosts(graph)] == ["front", "c"]
    group = graph.spec.groups[0]
    assert graph.group_of("b") == group and graph.group_of("c") is None
    assert group_host(graph, group).user_config is None  # a member's own, never the group's


def test_a_member_without_a_version_leaves_the_group_without_one() -> None:
    graph = validate_graph(
        chain(node("a", version="1"), node("b"), groups=[{"name": "ab", "nodes": ["a", "b"]}])
    )
    assert host_of(graph, "ab").node.version is None


def test_members_that_set_different_shared_fields_are_named_with_the_field() -> None:
    problems = problems_of(
        chain(
            node("a", replicas=2, image="x:1"),
            node("b", replicas=3, image="x:1"),
            node("c", autoscaling={"maxReplicas": 4}),
            groups=[{"name": "front", "nodes": ["a", "b", "c"]}],
        )
    )
    assert any(
        p.startswith("spec.groups[0].nodes: nodes set different replicas")
        and '"a" (2), "b" (3)' in p
        for p in problems
    )
    assert any("one node sets replicas and another autoscaling" in p for p in problems)
    assert not any("different image" in p for p in problems)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([{"name": "front", "nodes": ["a", "x"]}], 'spec.groups[0].nodes[1]: unknown node "x"'),
        (
            [{"name": "one", "nodes": ["a", "b"]}, {"name": "two", "nodes": ["b", "c"]}],
            'spec.groups[1].nodes[0]: node "b" is already in a group (spec.groups[0])',
        ),
        ([{"name": "solo", "nodes": ["a"]}], "spec.groups[0].nodes: a group co-locates at least"),
        ([{"name": "a", "nodes": ["b", "c"]}], 'spec.groups[0].name: "a" is also a node\'s name'),
        ([{"name": "Front", "nodes": ["b", "c"]}], 'spec.groups[0].name: "Front" is not a valid'),
        (
            [{"name": "x", "nodes": ["a", "b"]}, {"name": "x", "nodes": ["c", "h"]}],
            'spec.groups[1].name: duplicate group name "x"',
        ),
        (
            [{"name": "x", "nodes": ["c", "h"]}],
            'spec.groups[0].nodes[1]: node "h" is an HTTP model server',
        ),
    ],
)
def test_group_rules_name_the_field(groups: list[dict[str, Any]], expected: str) -> None:
    http = {"name": "h", "http": {"port": 8080, "methods": [{"name": "run", "path": "/"}]}}
    problems = problems_of(chain(node("a"), node("b"), node("c"), http, groups=groups))
    assert any(p.startswith(expected) for p in problems), problems


def test_group_rules_still_run_when_a_node_fails_the_schema() -> None:
    document = chain(node("a", replcas=2), node("b"), groups=[{"name": "ab", "nodes": ["a", "z"]}])
    problems = problems_of(document)
    assert any(p.startswith('spec.groups[0].nodes[1]: unknown node "z"') for p in problems)
