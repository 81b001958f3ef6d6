"""Graphs made of graphs, end to end with real processes (docs/decisions/0023-sub-graphs.md).

Two launches of `braid run`:

- ``together`` runs the review and scoring examples and the napper and sleeper test graphs in one
  ingress, so each sub-graph step runs its graph in the ingress's own process;
- ``apart`` runs only the calling graphs, with ``--graph-address`` pointing at ``together``'s
  gRPC port, so each sub-graph step calls the other ingress over gRPC (as in a cluster).

Both must answer alike: the value, a failing sub-graph (named with its failing node and step and
the parent's step, a clean error body, no traceback), and a deadline that carries through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_harness import Running, braid_run, curl, grpcurl, post_json

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "examples" / "subgraphs"
GRAPHS = Path(__file__).parent / "graphs"


@pytest.fixture(scope="module")
def together(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    files = [
        EXAMPLE / "graph.yaml",
        EXAMPLE / "graph-scoring.yaml",
        GRAPHS / "napper.yaml",
        GRAPHS / "sleeper.yaml",
    ]
    with braid_run(files, tmp_path_factory.mktemp("together")) as running:
        yield running


@pytest.fixture(scope="module")
def apart(tmp_path_factory: pytest.TempPathFactory, together: Running) -> Iterator[Running]:
    files = [EXAMPLE / "graph.yaml", GRAPHS / "napper.yaml"]
    addresses = ["--graph-address", f"scoring={together.grpc}"]
    addresses += ["--graph-address", f"sleeper={together.grpc}"]
    with braid_run(files, tmp_path_factory.mktemp("apart"), *addresses) as running:
        yield running


@pytest.fixture(params=["together", "apart"])
def running(request: pytest.FixtureRequest) -> Running:
    launched: Running = request.getfixturevalue(request.param)
    return launched


def test_the_review_graph_scores_through_the_scoring_graph(running: Running) -> None:
    result = curl("-d", '"Great product, works well!"', f"http://{running.http}/review")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "text": "great product works well",
        "score": 2,
        "verdict": "publish",
    }
    held = post_json(running.http, "/review", "Terrible, and slow.")
    assert held.status == 200 and held.json()["verdict"] == "hold"


def test_a_failing_subgraph_names_itself_its_node_and_step_and_the_callers_step(
    running: Running,
) -> None:
    reply = post_json(running.http, "/review", "")
    assert reply.status == 500
    error = reply.json()["error"]
    assert error["kind"] == "UserCodeError"
    assert (error["node"], error["step"], error["type"]) == (
        "scoring/lexicon",
        "scored",
        "ValueError",
    )
    assert error["message"] == (
        'sub-graph "scoring" (called by step "scored") failed: node "lexicon" (step "score") '
        "raised ValueError: nothing to score: the review has no words"
    )
    assert "Traceback" not in reply.body.decode()


def test_a_failing_subgraph_over_grpc_is_a_clean_internal_error(running: Running) -> None:
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", '{"graph": "review", "json": "\\"\\""}')
    assert result.returncode != 0
    assert "Code: Internal" in result.stderr
    assert 'sub-graph "scoring" (called by step "scored") failed' in result.stderr
    assert "Traceback" not in result.stderr


def test_the_callers_deadline_carries_into_the_subgraph(running: Running) -> None:
    assert post_json(running.http, "/napper", 0.01).json() == 0.02
    # The sleeper allows 120 s; the caller's 2 s deadline is what ends its nap.
    reply = post_json(running.http, "/napper", 60, **{"X-Request-Timeout": "2"})
    assert reply.status == 504
    error = reply.json()["error"]
    assert error["kind"] == "DeadlineExceeded"
    assert (error["node"], error["step"]) == ("sleeper/sleepy", "slept")
    assert error["message"].startswith('sub-graph "sleeper" (called by step "slept") failed')
    assert '"sleepy"' in error["message"] and '"nap"' in error["message"]
    # Explained once, by the caller, whose deadline it was (not the 1.5 s the sub-graph got).
    assert error["message"].count("the request's deadline of") == 1
    assert "the request's deadline of 1.5 s" not in error["message"]


def test_the_subgraph_still_answers_on_its_own(together: Running) -> None:
    reply = post_json(together.http, "/scoring", "good and fast")
    assert reply.json() == {"positive": 2, "negative": 0, "score": 2}
