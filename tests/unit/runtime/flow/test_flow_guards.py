"""Planning partial failures: a step's guard and quorum for the wire, the steps a quorum join
contains, and the quorum's missing-names argument."""

from __future__ import annotations

from pathlib import Path

from braid.runtime._flow.guards import MISSING_KEY
from braid.runtime._flow.planning import build_call, plan_flow
from braid.runtime._proto.braid_pb2 import Upstream
from braid.runtime._wire.codec import decode
from braid.spec import load_graph

EXAMPLES = Path(__file__).parents[4] / "examples"
GRAPHS = Path(__file__).parents[3] / "integration" / "runtime" / "graphs"


def test_a_soft_step_carries_its_timeout_and_fallback_value() -> None:
    plan = plan_flow(load_graph(EXAMPLES / "soft-steps" / "graph.yaml"))
    tags = plan.step("tags").guard
    assert tags is not None
    assert (tags.timeout, tags.optional, tags.attempts) == (1.0, True, 0)
    assert decode(tags.fallback_value) == []
    summary = plan.step("summary").guard
    assert summary is not None
    assert (summary.attempts, list(summary.retry_on), summary.idempotent) == (3, ["error"], True)
    assert (summary.fallback_node, summary.fallback_method) == ("first-sentence", "__call__")
    assert plan.step("description").guard is None
    assert plan.guarded


def test_a_plain_graph_is_not_guarded() -> None:
    plan = plan_flow(load_graph(EXAMPLES / "ensemble" / "graph.yaml"))
    assert not plan.guarded
    assert plan.contained == frozenset()


def test_a_quorum_joins_producers_are_contained() -> None:
    plan = plan_flow(load_graph(EXAMPLES / "quorum" / "graph.yaml"))
    quorum = plan.step("verdict").quorum
    assert quorum is not None and (quorum.min, quorum.within) == (2, 0.5)
    assert plan.contained == {"by-lexicon", "by-counter", "by-transformer"}
    assert plan.hard_path == {"verdict"}


def test_a_producer_that_also_feeds_a_hard_step_is_on_a_hard_path() -> None:
    plan = plan_flow(load_graph(GRAPHS / "partial-soft.yaml"))
    assert plan.contained == frozenset()
    assert plan.hard_path == {"s1", "s2", "out"}


def test_the_missing_argument_is_an_upstream_the_join_fills_in() -> None:
    plan = plan_flow(load_graph(EXAMPLES / "quorum" / "graph.yaml"))
    call = plan.step("verdict").call
    assert call is not None and call.missing_argument == "missing"
    payload, upstreams = build_call(
        call,
        step="verdict",
        flow_input="request",
        input_value={},
        upstream=lambda reference: Upstream(key=f"r/{reference.source}"),
    )
    assert [u.key for u in upstreams] == [
        "r/by-lexicon",
        "r/by-counter",
        "r/by-transformer",
        MISSING_KEY,
    ]
    args, kwargs = decode(payload, upstream=lambda index: f"<{index}>")
    assert (args, kwargs) == ([["<0>", "<1>", "<2>"]], {"missing": "<3>"})
