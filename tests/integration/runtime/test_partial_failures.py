"""Partial failures through `braid run`, in both layouts (decision 0021): optional steps fall
back on an exception, on their timeout and to a fallback call, and the response names them;
a quorum join answers from 2 of 3 producers when one hangs, and fails when too few can answer;
a retried step answers from another replica, and one that keeps failing stops when its retry
budget runs out. Real processes, real HTTP and gRPC clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from edge_harness import GRAPHS, Running, braid_run, post_json

from braid.runtime import connect
from braid.runtime._proto.braid_pb2 import GraphRequest
from braid.runtime._proto.braid_pb2_grpc import GraphStub

FILES = [GRAPHS / f"partial-{name}.yaml" for name in ("soft", "quorum", "retries")]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"partial-{layout}")
    with braid_run(FILES, work, "--layout", layout) as launched:
        yield launched


def _soft(running: Running, value: dict[str, Any], **headers: str) -> tuple[int, Any, str]:
    reply = post_json(running.http, "/soft", value, **headers)
    assert reply.status == 200, reply.body
    return reply.status, reply.json(), reply.headers.get("braid-degraded", "")


def test_a_soft_step_that_succeeds_is_not_degraded(running: Running) -> None:
    assert _soft(running, {}) == (200, ["s1", "s2"], "")


def test_an_exception_gives_the_fallback_value_and_names_the_step(running: Running) -> None:
    assert _soft(running, {"fail": ["s1"]}) == (200, ["fallback", "s2"], "s1")


def test_a_timeout_gives_the_fallback_value(running: Running) -> None:
    assert _soft(running, {"hang": ["s1"]}) == (200, ["fallback", "s2"], "s1")


def test_a_fallback_call_gets_the_steps_arguments(running: Running) -> None:
    _, value, degraded = _soft(running, {"fail": ["s1", "s2"]})
    assert value == ["fallback", "rescued-s2"]
    assert sorted(degraded.split(",")) == ["s1", "s2"]


def test_the_degraded_steps_are_in_the_json_when_asked(running: Running) -> None:
    reply = post_json(running.http, "/soft", {"fail": ["s1"]}, **{"Braid-Report": "degraded"})
    body = reply.json()
    assert body["output"] == ["fallback", "s2"]
    [degraded] = body["degraded"]
    assert (degraded["step"], degraded["reason"]) == ("s1", "fallback")
    assert "s1 failed on purpose" in degraded["message"]


def test_grpc_replies_carry_the_degraded_steps(running: Running) -> None:
    with grpc.insecure_channel(running.grpc) as channel:
        stub = GraphStub(channel)  # type: ignore[no-untyped-call]
        request = GraphRequest(graph="soft", json=json.dumps({"fail": ["s1"]}))
        reply, call = stub.Invoke.with_call(request, timeout=60)
        [streamed] = list(stub.InvokeStream(request, timeout=60))
    assert json.loads(reply.json) == ["fallback", "s2"]
    assert [(d.step, d.reason) for d in reply.degraded] == [("s1", "fallback")]
    assert ("braid-degraded", "s1") in tuple(call.trailing_metadata())
    assert [d.step for d in streamed.degraded] == ["s1"]  # InvokeStream's single value


def test_the_python_client_names_the_degraded_steps(running: Running) -> None:
    with connect(running.grpc) as client:
        response = client.graph("soft").remote({"fail": ["s2"]})
        assert response.result() == ["s1", "rescued-s2"]
        assert response.degraded == ["s2"]


def test_a_quorum_answers_without_a_hanging_producer(running: Running) -> None:
    reply = post_json(running.http, "/quorum", {"hang": ["m3"]})
    assert reply.status == 200, reply.body
    assert reply.json() == {"answers": ["m1", "m2", None], "missing": ["m3"]}
    assert reply.headers["braid-degraded"] == "m3"


def test_a_failing_chained_producer_does_not_fail_the_request(running: Running) -> None:
    # m3 runs as m0's continuation, sent by the ingress: its failure reaches the ingress, which
    # leaves it to the quorum join.
    reply = post_json(running.http, "/quorum", {"fail": ["m3"]})
    assert reply.status == 200, reply.body
    assert reply.json() == {"answers": ["m1", "m2", None], "missing": ["m3"]}


def test_a_quorum_counts_a_failed_producer_as_missing(running: Running) -> None:
    reply = post_json(running.http, "/quorum", {"fail": ["m1"]})
    assert reply.status == 200, reply.body
    assert reply.json() == {"answers": [None, "m2", "m3"], "missing": ["m1"]}


def test_a_quorum_that_cannot_be_reached_fails_with_the_missing_steps(running: Running) -> None:
    # m3 hangs, but with m1 and m2 failed it could not make a quorum: no wait for it.
    reply = post_json(running.http, "/quorum", {"fail": ["m1", "m2"], "hang": ["m3"]})
    assert reply.status == 503, reply.body
    error = reply.json()["error"]
    assert (error["kind"], error["step"]) == ("QuorumNotReached", "voted")
    assert '"m1" failed' in error["message"]
    assert '"m2" failed' in error["message"]


def test_a_quorum_still_possible_waits_for_its_slow_producer(running: Running) -> None:
    # m1 failed and m3 hangs: m3 could still make the quorum, so the join waits, here until
    # the request's deadline.
    reply = post_json(
        running.http, "/quorum", {"fail": ["m1"], "hang": ["m3"]}, **{"X-Request-Timeout": "3"}
    )
    assert reply.status == 504, reply.body


def test_a_full_quorum_is_not_degraded(running: Running) -> None:
    reply = post_json(running.http, "/quorum", {})
    assert reply.json() == {"answers": ["m1", "m2", "m3"], "missing": []}
    assert "braid-degraded" not in reply.headers


def test_a_retry_succeeds_on_another_replica(running: Running, tmp_path: Path) -> None:
    marker = tmp_path / "once"
    reply = post_json(running.http, "/retries", {"method": "once", "marker": str(marker)})
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["pid"] != answer["failed_on"]  # the second attempt went to the other replica


def test_a_retry_budget_that_runs_out_fails_the_step(running: Running, tmp_path: Path) -> None:
    marker = tmp_path / "always"
    reply = post_json(running.http, "/retries", {"method": "always", "marker": str(marker)})
    error = reply.json()["error"]
    # Each attempt fails at once; on a busy machine the budget may end during one instead.
    assert (reply.status, error["kind"]) in ((500, "UserCodeError"), (504, "StepTimedOut"))
    assert "requestTimeoutSeconds" not in error["message"]
    assert error["step"] == "attempt"
    assert "retry budget" in error["message"]
    attempts = marker.read_text().split()
    # 1 s of budget with pauses of 0.2, 0.4, 0.8 s: at most 3 attempts of the 10 allowed.
    assert 2 <= len(attempts) <= 3
    assert len(set(attempts)) == 2  # the attempts went to both replicas
