"""What a caller sees when a request fails, through the flow and through handle calls two deep
(front -> mid -> leaf), over HTTP, gRPC and the Python entry point; and streams and values at
the edges. All through `braid run` and real clients on loopback."""

from __future__ import annotations

import concurrent.futures
import json
import socket
from collections.abc import Iterator

import numpy as np
import pytest
from edge_harness import GRAPHS, Running, braid_run, grpcurl, post_json, request

import braid.runtime
from braid.runtime import DeadlineExceeded, Overloaded, UserCodeError

FILES = [GRAPHS / f"{name}.yaml" for name in ("hops", "empty", "joins", "scalar")]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with braid_run(FILES, tmp_path_factory.mktemp("errors")) as launched:
        yield launched


@pytest.fixture(scope="module")
def app(running: Running) -> Iterator[braid.runtime.App]:
    with braid.runtime.run(GRAPHS / "hops.yaml", GRAPHS / "scalar.yaml") as launched:
        yield launched


def _error(reply_body: bytes) -> dict[str, object]:
    error: dict[str, object] = json.loads(reply_body)["error"]
    return error


# -- errors across handle calls -------------------------------------------------------------


def test_user_exception_two_handles_deep_names_the_origin_and_the_path(running: Running) -> None:
    reply = post_json(running.http, "/hops", {"op": "divide"})
    assert reply.status == 500
    error = _error(reply.body)
    assert (error["kind"], error["node"], error["step"]) == ("UserCodeError", "leaf", "answer")
    assert error["path"] == ["front", "mid", "leaf"]
    assert error["type"] == "ZeroDivisionError"
    assert error["exc_message"] == "division by zero"
    assert "front -> mid -> leaf" in str(error["message"])


def test_a_caller_catches_the_callees_exception_by_its_type(running: Running) -> None:
    reply = post_json(running.http, "/hops", {"op": "catch"})
    assert reply.status == 200
    assert reply.json() == {"caught": "ZeroDivisionError", "message": "division by zero"}


def test_a_response_passed_by_reference_keeps_the_error(running: Running) -> None:
    reply = post_json(running.http, "/hops", {"op": "by_reference"})
    assert reply.status == 500
    error = _error(reply.body)
    assert (error["node"], error["type"]) == ("leaf", "ZeroDivisionError")
    assert error["path"] == ["front", "mid", "leaf"]


def test_overload_of_a_callee_is_a_503_naming_it(running: Running) -> None:
    # leaf runs one call and queues none: of four at once, some must be refused.
    body = {"op": "sleep", "arg": 1.0}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: post_json(running.http, "/hops", body), range(4)))
    refused = [reply for reply in replies if reply.status != 200]
    assert refused, [reply.status for reply in replies]
    for reply in refused:
        assert reply.status == 503, reply.body
        assert int(reply.headers["retry-after"]) >= 1
        error = _error(reply.body)
        assert (error["kind"], error["node"], error["step"]) == ("Overloaded", "leaf", "answer")
        assert error["path"] == ["front", "mid", "leaf"]


def test_a_callee_past_the_deadline_is_a_504_naming_it_and_the_deadline(running: Running) -> None:
    reply = post_json(
        running.http, "/hops", {"op": "sleep", "arg": 5}, **{"X-Request-Timeout": "1"}
    )
    assert reply.status == 504
    error = _error(reply.body)
    assert (error["kind"], error["node"], error["step"]) == ("DeadlineExceeded", "leaf", "answer")
    assert error["path"] == ["front", "mid", "leaf"]
    assert "deadline of 1 s" in str(error["message"])
    assert "requestTimeoutSeconds" in str(error["message"])


def test_handle_errors_over_grpc_keep_their_codes(running: Running) -> None:
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", _grpc_json("hops", {"op": "divide"}))
    assert "Code: Internal" in result.stderr
    assert "front -> mid -> leaf" in result.stderr
    data = _grpc_json("hops", {"op": "sleep", "arg": 5})
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data, "-max-time", "1")
    assert "DeadlineExceeded" in result.stderr


def test_handle_errors_through_the_python_entry_point(app: braid.runtime.App) -> None:
    with pytest.raises(ZeroDivisionError) as caught:
        app.remote({"op": "divide"}).result()
    error = caught.value
    assert isinstance(error, UserCodeError)
    assert (error.node, error.step, error.path) == ("leaf", "answer", ("front", "mid", "leaf"))
    with pytest.raises(DeadlineExceeded) as late:
        app.options(timeout=30).remote({"op": "sleep", "arg": 40}).result()
    assert late.value.node == "leaf"
    body = {"op": "sleep", "arg": 1.0}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: _outcome(app, body), range(4)))
    assert Overloaded in outcomes, outcomes


def _outcome(app: braid.runtime.App, body: object) -> object:
    try:
        return app.remote(body).result()
    except Overloaded:
        return Overloaded


def _grpc_json(graph: str, value: object) -> str:
    return json.dumps({"graph": graph, "json": json.dumps(value)})


# -- streaming mode of handle calls ---------------------------------------------------------


def test_awaiting_a_generator_without_stream_fails_at_once(running: Running) -> None:
    reply = post_json(running.http, "/hops", {"op": "await_generator"})
    assert reply.status == 500
    error = _error(reply.body)
    assert error["type"] == "TypeError"
    assert "leaf.count, which is a generator method" in str(error["message"])
    assert "stream=True" in str(error["message"])


def test_stream_true_on_a_plain_method_fails_at_once(running: Running) -> None:
    reply = post_json(running.http, "/hops", {"op": "stream_plain"})
    assert reply.status == 500
    error = _error(reply.body)
    assert error["type"] == "TypeError"
    assert "leaf.divide, which is not a generator method" in str(error["message"])


# -- empty streams --------------------------------------------------------------------------


def test_an_empty_stream_is_a_200_with_no_items(running: Running) -> None:
    reply = post_json(running.http, "/empty", 1)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/x-ndjson"
    assert reply.body == b""
    sse = request(
        running.http,
        "POST",
        "/empty",
        b"1",
        {"Content-Type": "application/json", "Accept": "text/event-stream"},
    )
    assert (sse.status, sse.body) == (200, b"")


def test_an_empty_stream_is_an_ok_grpc_stream_with_no_messages(running: Running) -> None:
    result = grpcurl(running.grpc, "braid.v1.Graph/InvokeStream", _grpc_json("empty", 1))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_an_empty_stream_through_the_python_entry_point(running: Running) -> None:
    with braid.runtime.run(GRAPHS / "empty.yaml") as empty:
        assert list(empty.options(stream=True).remote(1)) == []


# -- joins and admission --------------------------------------------------------------------


def test_joins_waiting_for_inputs_do_not_starve_the_queue(running: Running) -> None:
    # 300 requests at once, each with a join on a node with the default limits (16 running,
    # 128 queued) whose inputs take 2 s: joins waiting for inputs must not take queue places.
    with concurrent.futures.ThreadPoolExecutor(300) as pool:
        replies = list(pool.map(lambda i: post_json(running.http, "/joins", i), range(300)))
    statuses = [reply.status for reply in replies]
    assert statuses == [200] * 300, sorted(set(statuses))
    assert [reply.json() for reply in replies] == [[i, i] for i in range(300)]


# -- values at the edges --------------------------------------------------------------------


def test_a_0d_array_stays_an_array_through_hops_and_the_entry_point(
    running: Running, app: braid.runtime.App
) -> None:
    value = app.graph("scalar").remote(None).result()
    assert isinstance(value, np.ndarray) and value.shape == () and value == 7.5
    echoed = app.graph("scalar").remote(np.array(3)).result()
    assert isinstance(echoed, np.ndarray), type(echoed)
    assert post_json(running.http, "/scalar", None).json() == 7.5


def test_a_body_shorter_than_its_content_length_is_a_400(running: Running) -> None:
    host, port = running.http.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /scalar HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n[1, 2"
        )
        # The client keeps its side open; the server answers and closes. The head and the body
        # may come in separate segments, so read until the close.
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"stopped after 5 of 100 bytes" in answer


def test_a_413_reaches_an_ordinary_client_that_is_still_sending(running: Running) -> None:
    # 8 MiB to a graph that takes 1 MiB: http.client writes the whole body before it reads.
    reply = request(
        running.http,
        "POST",
        "/scalar",
        b"1" * (8 * 1024 * 1024),
        {"Content-Type": "application/json"},
    )
    assert reply.status == 413, reply.body
    assert b"over the limit" in reply.body


# -- last, since it kills a replica (braid run restarts it) ---------------------------------


def test_a_dead_callee_is_a_503_that_does_not_blame_its_callers(running: Running) -> None:
    reply = post_json(running.http, "/hops", {"op": "exit"})
    assert reply.status == 503, reply.body
    error = _error(reply.body)
    assert (error["kind"], error["node"], error["step"]) == ("ReplicaUnavailable", "leaf", "answer")
    assert error["path"] == ["front", "mid", "leaf"]
