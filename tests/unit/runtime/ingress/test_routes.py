"""The ingress's route table: longest prefix on segment boundaries, names, and conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._ingress.routes import (
    GraphRoute,
    IngressConfigError,
    RouteTable,
    check_servable,
    parse_timeout,
)
from braid.runtime._wire.errors import BadRequest
from braid.spec import DeploymentGraph, GraphInvalid, validate_graph


def graph(name: str, prefix: str, timeout: float = 60.0) -> DeploymentGraph:
    return validate_graph(
        {
            "apiVersion": "braid.dev/v1alpha1",
            "kind": "DeploymentGraph",
            "metadata": {"name": name},
            "spec": {
                "nodes": [{"name": "a", "class": "m:C"}],
                "flow": {
                    "steps": [{"name": "s", "call": "a.f", "args": ["$input"]}],
                    "output": "$s",
                },
                "ingress": {"http": {"routePrefix": prefix}, "requestTimeoutSeconds": timeout},
            },
        }
    )


def route(
    name: str, prefix: str, peers: dict[str, list[str]] | None = None, **kw: Any
) -> GraphRoute:
    return GraphRoute(
        graph=graph(name, prefix, **kw), runner=None, discovery=StaticDiscovery(peers)
    )  # type: ignore[arg-type]


def test_longest_prefix_on_segment_boundaries() -> None:
    table = RouteTable(
        [route("root", "/"), route("content", "/content"), route("deep", "/content/v2")]
    )
    assert table.match("/content").name == "content"  # type: ignore[union-attr]
    assert table.match("/content/x").name == "content"  # type: ignore[union-attr]
    assert table.match("/content/v2/x").name == "deep"  # type: ignore[union-attr]
    assert table.match("/contents").name == "root"  # type: ignore[union-attr]
    assert table.match("/").name == "root"  # type: ignore[union-attr]


def test_no_match_without_a_root_graph() -> None:
    table = RouteTable([route("content", "/content")])
    assert table.match("/content").name == "content"  # type: ignore[union-attr]
    assert table.match("/other") is None


def test_by_name_and_the_only_graph() -> None:
    one = RouteTable([route("a", "/a")])
    assert one.by_name("").name == "a"  # type: ignore[union-attr]
    two = RouteTable([route("a", "/a"), route("b", "/b")])
    assert two.by_name("") is None
    assert two.by_name("b").name == "b"  # type: ignore[union-attr]
    assert two.by_name("c") is None


def test_conflicting_graphs_are_refused() -> None:
    with pytest.raises(IngressConfigError, match="both use the route prefix"):
        check_servable([graph("a", "/x"), graph("b", "/x")])
    with pytest.raises(IngressConfigError, match="two graphs are named"):
        check_servable([graph("a", "/x"), graph("a", "/y")])
    with pytest.raises(IngressConfigError, match="at least one graph"):
        check_servable([])


def test_a_client_may_ask_for_more_up_to_the_graphs_longest() -> None:
    document = graph("a", "/", timeout=10).model_dump(by_alias=True, mode="json")
    document["spec"]["ingress"]["maxRequestTimeoutSeconds"] = 600
    graph_route = GraphRoute(
        graph=validate_graph(document), runner=None, discovery=StaticDiscovery({})
    )  # type: ignore[arg-type]
    assert graph_route.deadline(None, now=100.0) == 110.0  # no ask: the default
    assert graph_route.deadline(120, now=100.0) == 220.0  # raised per request
    assert graph_route.deadline(3600, now=100.0) == 700.0  # up to the graph's longest


def test_the_longest_deadline_cannot_be_below_the_default() -> None:
    document = graph("a", "/", timeout=60).model_dump(by_alias=True, mode="json")
    document["spec"]["ingress"]["maxRequestTimeoutSeconds"] = 30
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(document)
    assert "maxRequestTimeoutSeconds (30) is below requestTimeoutSeconds (60)" in str(caught.value)


def test_deadline_is_the_smaller_of_graph_and_client() -> None:
    graph_route = route("a", "/", timeout=10)
    assert graph_route.deadline(None, now=100.0) == 110.0
    assert graph_route.deadline(2.5, now=100.0) == 102.5
    assert graph_route.deadline(60, now=100.0) == 110.0


def test_missing_nodes_follow_discovery() -> None:
    assert RouteTable([route("a", "/")]).missing_nodes() == ["a/a"]
    assert RouteTable([route("a", "/", {"a": ["127.0.0.1:1"]})]).missing_nodes() == []


@pytest.mark.parametrize("text", ["soon", "0", "-1", "inf", "nan"])
def test_bad_timeouts(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_timeout(text)


def test_good_timeout() -> None:
    assert parse_timeout("0.25") == 0.25
