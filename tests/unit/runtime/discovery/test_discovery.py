"""Static discovery from a peers file, and EndpointSlice parsing for the cluster."""

from __future__ import annotations

from pathlib import Path

from braid.runtime._discovery.endpointslices import (
    ClusterAccess,
    KubernetesDiscovery,
    ready_addresses,
)
from braid.runtime._discovery.peers import StaticDiscovery, write_peers_file


def test_peers_file_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    peers = tmp_path / "peers.json"
    write_peers_file(peers, {"a": ["127.0.0.1:1"]})
    now = [0.0]
    discovery = StaticDiscovery(peers_file=peers, poll_interval=1, clock=lambda: now[0])
    assert discovery.replicas("a") == ("127.0.0.1:1",)
    write_peers_file(peers, {"a": ["127.0.0.1:1", "127.0.0.1:2"]})
    now[0] = 2.0
    assert discovery.replicas("a") == ("127.0.0.1:1", "127.0.0.1:2")


def test_an_unreadable_peers_file_keeps_the_last_peers(tmp_path: Path) -> None:
    peers = tmp_path / "peers.json"
    write_peers_file(peers, {"a": ["127.0.0.1:1"]})
    now = [0.0]
    discovery = StaticDiscovery(peers_file=peers, poll_interval=1, clock=lambda: now[0])
    peers.write_text("{not json")
    now[0] = 2.0
    assert discovery.replicas("a") == ("127.0.0.1:1",)


def _slice(name: str, node: str, endpoints: list[dict[str, object]]) -> dict[str, object]:
    return {
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/service-name": f"g-{node}", "braid.dev/graph": "g"},
        },
        "ports": [{"name": "grpc", "port": 7000}],
        "endpoints": endpoints,
    }


def test_only_ready_and_not_terminating_endpoints_are_routed_to() -> None:
    endpoint_slice = _slice(
        "g-adder-abc",
        "adder",
        [
            {"addresses": ["10.0.0.1"], "conditions": {"ready": True}},
            {"addresses": ["10.0.0.2"], "conditions": {"ready": False}},
            {"addresses": ["10.0.0.3"], "conditions": {"ready": True, "terminating": True}},
        ],
    )
    assert ready_addresses(endpoint_slice, "g") == ("adder", ["10.0.0.1:7000"])


def test_watch_events_update_the_peer_map() -> None:
    access = ClusterAccess(host="k", port=443, namespace="ns")
    discovery = KubernetesDiscovery(access, "g")
    ready = {"addresses": ["10.0.0.1"], "conditions": {"ready": True}}
    discovery.apply_event("ADDED", _slice("s1", "adder", [ready]))
    discovery.apply_event("ADDED", _slice("s2", "adder", [{**ready, "addresses": ["10.0.0.2"]}]))
    assert discovery.replicas("adder") == ("10.0.0.1:7000", "10.0.0.2:7000")
    discovery.apply_event(
        "MODIFIED", _slice("s1", "adder", [{**ready, "conditions": {"ready": False}}])
    )
    assert discovery.replicas("adder") == ("10.0.0.2:7000",)
    discovery.apply_event("DELETED", _slice("s2", "adder", []))
    assert discovery.replicas("adder") == ()
