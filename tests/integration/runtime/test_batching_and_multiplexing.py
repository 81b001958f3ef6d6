"""Dynamic batching and model multiplexing through `braid run`, in both layouts (decision 0014).

Batching (graphs/batches.yaml): concurrent callers share one call of the method, one whose
deadline passes while it waits is dropped from its batch alone, and a method that raises or
returns the wrong number of results fails each request of the batch with its node and step.
Multiplexing (graphs/models.yaml): three model ids across two replicas, each loaded once per
replica, later calls routed to the replica that holds the model, least-recently-used unloading
at the limit, and a model id from a header, gRPC metadata or a handle option.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from edge_harness import GRAPHS, GRPCURL, Reply, Running, braid_run, grpcurl, post_json


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"batching-{layout}")
    files = [GRAPHS / "batches.yaml", GRAPHS / "models.yaml"]
    with braid_run(files, work, "--layout", layout) as launched:
        yield launched


def together(calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Make the calls at once, each from a thread of its own."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def batched(running: Running, method: str, item: Any, **headers: str) -> Callable[[], Reply]:
    return lambda: post_json(running.http, "/batches", {"method": method, "item": item}, **headers)


def test_concurrent_callers_share_one_batch(running: Running) -> None:
    replies = together([batched(running, "echo", item) for item in range(8)])
    assert [reply.status for reply in replies] == [200] * 8
    assert sorted(reply.json()["item"] for reply in replies) == list(range(8))
    assert {reply.json()["batch"] for reply in replies} == {8}  # a full batch starts at once


def test_a_caller_that_times_out_is_dropped_from_its_batch(running: Running) -> None:
    # Four callers never fill a batch of 8: the batch waits 2 s, past the late one's deadline.
    late = batched(running, "echo", "late", **{"X-Request-Timeout": "0.5"})
    replies = together([late, *(batched(running, "echo", item) for item in range(3))])
    assert replies[0].status == 504
    error = replies[0].json()["error"]
    assert (error["kind"], error["node"], error["step"]) == ("DeadlineExceeded", "gather", "work")
    assert [reply.status for reply in replies[1:]] == [200] * 3
    assert sorted(reply.json()["item"] for reply in replies[1:]) == [0, 1, 2]
    assert all(reply.json()["batch"] <= 3 for reply in replies[1:])  # never with the late one


def test_a_sync_batched_method_runs_in_the_nodes_threads(running: Running) -> None:
    replies = together([batched(running, "sync_echo", item) for item in range(8)])
    assert [reply.status for reply in replies] == [200] * 8
    assert all(reply.json()["thread"].startswith("braid-gather") for reply in replies)
    assert {reply.json()["batch"] for reply in replies} == {8}


def test_a_batch_that_raises_fails_each_request_with_node_step_and_exception(
    running: Running,
) -> None:
    replies = together([batched(running, "fail", item) for item in range(4)])
    for reply in replies:
        assert reply.status == 500
        error = reply.json()["error"]
        assert (error["node"], error["step"], error["type"]) == ("gather", "work", "ValueError")
        assert error["message"] == (
            'node "gather" (step "work") raised ValueError: cannot score this batch'
        )


def test_a_wrong_number_of_results_is_a_clear_error(running: Running) -> None:
    replies = together([batched(running, "wrong", item) for item in range(4)])
    for reply in replies:
        assert reply.status == 500
        error = reply.json()["error"]
        assert (error["node"], error["step"]) == ("gather", "work")
        assert (
            'batched method "wrong" returned 3 results for a batch of 4 calls' in (error["message"])
        )


def served(running: Running, node: str, model_id: str, **extra: Any) -> dict[str, Any]:
    headers = {"braid-model-id": model_id}
    reply = post_json(running.http, "/models", {"node": node, **extra}, **headers)
    assert reply.status == 200, reply.body
    answer: dict[str, Any] = reply.json()
    return answer


def test_three_models_on_two_replicas_load_once_each_and_stick(running: Running) -> None:
    first = {model: served(running, "pool", model) for model in ("a", "b", "c")}
    for model, answer in first.items():
        assert (answer["model"], answer["loaded_model"]) == (model, model)
        assert answer["loads"][model] == 1
    for _ in range(3):  # later calls go to the replica that holds the model
        for model in ("a", "b", "c"):
            answer = served(running, "pool", model)
            assert answer["pid"] == first[model]["pid"]
            assert answer["loads"][model] == 1


def test_concurrent_calls_for_a_new_model_wait_for_one_load(running: Running) -> None:
    answers = together(
        [lambda: post_json(running.http, "/models", {"node": "solo"}, **{"braid-model-id": "x"})]
        * 4
    )
    assert [answer.status for answer in answers] == [200] * 4
    assert {answer.json()["loads"]["x"] for answer in answers} == {1}


def test_the_least_recently_used_model_is_unloaded_at_the_limit(running: Running) -> None:
    for model in ("p", "q", "p"):
        served(running, "solo", model)
    answer = served(running, "solo", "r")  # solo holds 2 models: q is the least recently used
    assert answer["unloaded"][-1] == "q"
    assert served(running, "solo", "p")["loads"]["p"] == 1  # p stayed loaded


def test_a_handle_names_its_model_with_an_option(running: Running) -> None:
    answer = served(running, "front", "ignored", model="h")
    assert (answer["model"], answer["loaded_model"]) == ("h", "h")


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl is not installed")
def test_grpc_metadata_names_the_model(running: Running) -> None:
    data = json.dumps({"graph": "models", "json": json.dumps({"node": "solo"})})
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data, "-H", "braid-model-id: g")
    assert result.returncode == 0, result.stderr
    answer = json.loads(json.loads(result.stdout)["json"])
    assert (answer["model"], answer["loaded_model"]) == ("g", "g")
