"""Static discovery from a peers file (EndpointSlices: test_endpointslices.py)."""

from __future__ import annotations

from pathlib import Path

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
