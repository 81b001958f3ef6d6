"""Autoscaling under `braid run`, with real processes: a step load scales a node up and its end
scales it back down without losing a request; a node at zero wakes for a request and goes back
to zero when idle; a wake-up whose constructor raises fails the held requests with the node and
the user's exception; a full buffer answers 503 with Retry-After. Nothing here asserts a time:
each wait is for a condition, with a generous deadline."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from edge_harness import GRAPHS, Running, braid_run, grpcurl, post_json, request, wait_gone

CONDITION_TIMEOUT = 90.0


def _wait_until(condition: Callable[[], bool], what: str, log: Path) -> None:
    end = time.monotonic() + CONDITION_TIMEOUT
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def _status(running: Running) -> dict[str, Any]:
    status: dict[str, Any] = json.loads((running.log.parent / "status.json").read_text())
    return status


def _scaled(running: Running, unit: str) -> dict[str, Any]:
    found: dict[str, Any] = _status(running)["autoscaling"][unit]
    return found


@pytest.fixture
def seen_pids() -> Iterator[set[int]]:
    """Every process id the status file showed; all must be gone after the test."""
    pids: set[int] = set()
    yield pids
    assert wait_gone(sorted(pids)) == []


def _note_pids(running: Running, pids: set[int]) -> None:
    pids.update(p["pid"] for p in _status(running)["processes"] if p["pid"] is not None)


def test_a_step_load_scales_up_and_its_end_scales_down_losing_nothing(
    tmp_path: Path, seen_pids: set[int]
) -> None:
    with braid_run([GRAPHS / "autoscaling.yaml"], tmp_path / "run") as running:
        assert _scaled(running, "autoscaling/sleeper")["replicas"] == 1
        stop = threading.Event()
        replies: list[tuple[int, Any]] = []

        def client(seconds: float) -> None:
            while not stop.is_set():
                reply = post_json(running.http, "/autoscaling", seconds)
                replies.append((reply.status, reply.json()))

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            clients = [pool.submit(client, 0.3) for _ in range(6)]  # the step: 6 at a time
            _wait_until(
                lambda: _scaled(running, "autoscaling/sleeper")["ready"] == 3,
                "three ready replicas under the step load",
                running.log,
            )
            _note_pids(running, seen_pids)
            assert (
                "ongoing per replica > target 1"
                in _scaled(running, "autoscaling/sleeper")["reason"]
            )
            stop.set()
            for done in clients:
                done.result()
            # The step ends; one client keeps calling while replicas drain: none is lost.
            stop.clear()
            trickle = pool.submit(client, 0.05)
            _wait_until(
                lambda: _scaled(running, "autoscaling/sleeper")["replicas"] == 1,
                "the node to scale back down to one replica",
                running.log,
            )
            time.sleep(1.0)  # let the drained replicas' last calls finish (not an assert)
            stop.set()
            trickle.result()
        assert replies, "no request was answered"
        failures = [r for r in replies if r[0] != 200]
        assert failures == []
        assert len({pid for _, pid in replies}) >= 2  # several replicas served
        assert "< target 1" in _scaled(running, "autoscaling/sleeper")["reason"]


def test_a_node_at_zero_wakes_for_a_request_and_goes_back_to_zero(
    tmp_path: Path, seen_pids: set[int]
) -> None:
    with braid_run([GRAPHS / "to_zero.yaml"], tmp_path / "run") as running:
        assert _scaled(running, "to-zero/sleeper")["replicas"] == 0
        assert running.pids("sleeper") == []
        reply = post_json(running.http, "/to-zero", 0.0)
        assert reply.status == 200, reply.body
        assert "requests held while it had none" in _scaled(running, "to-zero/sleeper")["reason"]
        _note_pids(running, seen_pids)
        _wait_until(
            lambda: _scaled(running, "to-zero/sleeper")["replicas"] == 0,
            "the idle node to go back to zero",
            running.log,
        )
        assert _scaled(running, "to-zero/sleeper")["reason"].endswith("1 -> 0 replicas, idle")
        # And it wakes again.
        assert post_json(running.http, "/to-zero", 0.0).status == 200


def test_a_sidecar_holds_a_handle_call_to_a_node_at_zero_and_wakes_it(
    tmp_path: Path, seen_pids: set[int]
) -> None:
    with braid_run([GRAPHS / "handle_to_zero.yaml"], tmp_path / "run") as running:
        assert _scaled(running, "handle-to-zero/sleeper")["replicas"] == 0
        reply = post_json(running.http, "/handle-to-zero", 0.0)
        assert reply.status == 200, reply.body
        assert isinstance(reply.json(), int)  # the woken sleeper's pid
        _note_pids(running, seen_pids)
        assert (
            "1 requests held while it had none"
            in _scaled(running, "handle-to-zero/sleeper")["reason"]
        )


def test_a_wake_up_that_fails_fails_the_held_requests_with_the_users_exception(
    tmp_path: Path, seen_pids: set[int]
) -> None:
    with braid_run([GRAPHS / "unborn.yaml"], tmp_path / "run") as running:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            replies = list(pool.map(lambda _: post_json(running.http, "/unborn", 0.0), range(3)))
        _note_pids(running, seen_pids)
        for reply in replies:
            assert reply.status == 503
            assert reply.headers["retry-after"] == "1"
            error = reply.json()["error"]
            assert error["node"] == "unborn"
            assert error["message"] == (
                'no replica of node "unborn" could start: the constructor of Unborn raised '
                "RuntimeError: no GPU here"
            )


def test_a_full_buffer_answers_503_with_retry_after(tmp_path: Path, seen_pids: set[int]) -> None:
    gate = tmp_path / "gate"
    manifest = yaml.safe_load((GRAPHS / "to_zero.yaml").read_text())
    manifest["metadata"]["name"] = "buffered"
    node = manifest["spec"]["nodes"][0]
    node["class"] = "scaling_nodes:Gated"
    node["init"] = {"gate": str(gate)}
    node["autoscaling"]["maxBufferedRequests"] = 2
    manifest["spec"]["ingress"]["http"]["routePrefix"] = "/buffered"
    graph = tmp_path / "buffered.yaml"
    graph.write_text(yaml.safe_dump(manifest))
    (tmp_path / "scaling_nodes.py").symlink_to(GRAPHS / "scaling_nodes.py")
    with braid_run([graph], tmp_path / "run") as running:
        metrics = _status(running)["metrics"]
        host_port = metrics.removeprefix("http://").removesuffix("/metrics")

        def held() -> bool:
            text = request(host_port, "GET", "/metrics").body.decode()
            return 'braid_held_requests{graph="buffered",node="sleeper"} 2.0' in text

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(post_json, running.http, "/buffered", 0.0) for _ in range(2)]
            _wait_until(held, "two requests held at the ingress", running.log)
            refused = post_json(running.http, "/buffered", 0.0)
            assert refused.status == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["message"] == (
                'node "sleeper" has no ready replica and 2 requests are already held for it; '
                "retry shortly"
            )
            data = json.dumps({"graph": "buffered", "json": "0"})
            over_grpc = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
            assert "Code: Unavailable" in over_grpc.stdout + over_grpc.stderr
            assert "already held for it" in over_grpc.stdout + over_grpc.stderr
            gate.touch()  # the replica finishes starting: the held requests are delivered
            assert [w.result().status for w in waiting] == [200, 200]
        _note_pids(running, seen_pids)
