"""Which replica ``braid run --entry-in-ingress`` hosts in the ingress, and when it cannot
(decision 0024): the host of the first call the ingress sends."""

from __future__ import annotations

from pathlib import Path

from braid.runtime._local.entry import entry_host, entry_refusal
from braid.spec import load_graph

EXAMPLES = Path(__file__).parents[4] / "examples"


def test_a_chain_starts_at_its_first_node() -> None:
    host = entry_host(load_graph(EXAMPLES / "chain" / "graph.yaml"))
    assert host is not None
    assert host.name == "adder"


def test_a_fused_chain_starts_at_its_group() -> None:
    graph = load_graph(EXAMPLES / "fused-chain" / "graph.yaml")
    host = entry_host(graph)
    assert host is not None
    assert (host.name, [m.name for m in host.members]) == ("pipeline", ["parse", "scale", "label"])
    assert entry_refusal(graph, host) is None


def test_a_fan_out_starts_at_the_join_that_calls_its_producers() -> None:
    host = entry_host(load_graph(EXAMPLES / "ensemble" / "graph.yaml"))
    assert host is not None
    assert host.name == "vote"


def test_an_http_model_server_cannot_run_in_the_ingress() -> None:
    graph = load_graph(EXAMPLES / "http-model-server" / "graph.yaml")
    host = entry_host(graph)
    assert host is not None
    assert host.name == "sentiment"
    refusal = entry_refusal(graph, host)
    assert refusal is not None and 'node "sentiment"' in refusal
