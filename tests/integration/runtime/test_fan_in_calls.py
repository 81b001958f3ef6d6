"""A join's own producers, called by the join's sidecar (DispatchPlan.nested), through
`braid run` in both layouts: the values and their paths arrive, a failing producer or join is
named with its node and step, a producer's failure cancels the producers still running, and a
producer or join whose process dies fails the request instead of leaving it hanging."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import GRAPHS, Running, braid_run, post_json


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"fanin-{layout}")
    with braid_run([GRAPHS / "fanin.yaml"], work, "--layout", layout) as launched:
        yield launched


def _value(**extra: Any) -> dict[str, Any]:
    return {"extra": {}, **extra}


def _error(body: bytes) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(body)["error"]
    return error


def _recovered(running: Running) -> None:
    """Wait until the graph answers again after a replica died (braid run restarts it)."""
    for _ in range(240):
        reply = post_json(running.http, "/fanin", _value(n=0))
        if reply.status == 200:
            return
        time.sleep(0.5)
    raise AssertionError("the graph did not recover after a replica died")


def test_the_join_gets_every_producers_value_and_path(running: Running) -> None:
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        replies = list(
            pool.map(lambda n: post_json(running.http, "/fanin", _value(n=n)), range(64))
        )
    assert [(r.status, r.json()) for r in replies] == [(200, ["a", "b", "c", n]) for n in range(64)]


def test_a_failing_producer_is_named_with_its_node_and_step(running: Running) -> None:
    reply = post_json(running.http, "/fanin", _value(fail="b"))
    assert reply.status == 500, reply.body
    error = _error(reply.body)
    assert (error["kind"], error["node"], error["step"]) == ("UserCodeError", "other", "b")
    assert error["exc_message"] == "producer b failed"


def test_a_failing_producer_cancels_the_ones_still_running(
    running: Running, tmp_path: Path
) -> None:
    marker = tmp_path / "cancelled"
    # b fails once a is running: a call cancelled before it reached the code leaves no marker
    # (under load, b's failure could otherwise come before a's call starts).
    started = f"{marker}.started"
    value = _value(fail="b", hang="a", marker=str(marker), fail_after=started)
    reply = post_json(running.http, "/fanin", value)
    assert reply.status == 500, reply.body
    assert _error(reply.body)["step"] == "b"
    for _ in range(120):  # the cancellation travels to the hanging producer's process
        if marker.exists():
            break
        time.sleep(0.25)
    assert marker.read_text() == "a"


def test_a_join_that_raises_is_named_with_its_step(running: Running) -> None:
    reply = post_json(running.http, "/fanin", _value(join="raise"))
    assert reply.status == 500, reply.body
    error = _error(reply.body)
    assert (error["node"], error["step"], error["type"]) == ("joiner", "joined", "RuntimeError")


def test_a_producer_that_dies_fails_the_request_naming_it(running: Running) -> None:
    reply = post_json(running.http, "/fanin", _value(die="a"))
    assert reply.status >= 500, reply.body
    assert _error(reply.body)["node"] == "leaf"
    _recovered(running)


def test_a_join_that_dies_fails_the_request_naming_it(running: Running) -> None:
    reply = post_json(running.http, "/fanin", _value(join="die"))
    assert reply.status >= 500, reply.body
    assert _error(reply.body)["node"] == "joiner"
    _recovered(running)
