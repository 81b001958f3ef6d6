"""A corpus of malformed and hostile gRPC requests against one running graph: each gets a clean
status with a one-line message, no traceback reaches the log, and a normal request still answers
afterwards. Also: every protocol enforces ``maxRequestBytes``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from edge_harness import GRAPHS, Running, braid_run, post_json, request

from braid.runtime._proto.braid_pb2 import GraphRequest, Payload

LIMIT = 1000
INVOKE = "/braid.v1.Graph/Invoke"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("grpc-corpus")
    with braid_run([GRAPHS / "limited.yaml"], work) as launched:
        yield launched


def raw_invoke(running: Running, data: bytes) -> tuple[grpc.StatusCode, str]:
    """Send ``data`` as the serialized request, whatever it holds."""
    with grpc.insecure_channel(running.grpc) as channel:
        call = channel.unary_unary(INVOKE, request_serializer=None, response_deserializer=None)
        try:
            call(data, timeout=30)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


CODE = grpc.StatusCode
# name: (serialized request, expected code, words of the message)
CASES: dict[str, tuple[bytes, grpc.StatusCode, str]] = {
    "json over the limit": (
        GraphRequest(graph="limited", json=json.dumps("x" * 2000)).SerializeToString(),
        CODE.RESOURCE_EXHAUSTED,
        f"limit is {LIMIT} bytes",
    ),
    "raw over the limit": (
        GraphRequest(graph="limited", raw=b"x" * 5000).SerializeToString(),
        CODE.RESOURCE_EXHAUSTED,
        f"limit is {LIMIT} bytes",
    ),
    "10 MB over gRPC's own ceiling": (
        GraphRequest(graph="limited", raw=b"x" * 10_000_000).SerializeToString(),
        CODE.RESOURCE_EXHAUSTED,
        "larger than max",
    ),
    "unknown graph": (
        GraphRequest(graph="nope", json="1").SerializeToString(),
        CODE.NOT_FOUND,
        'no graph "nope"',
    ),
    "bad json": (
        GraphRequest(graph="limited", json="{bad").SerializeToString(),
        CODE.INVALID_ARGUMENT,
        "JSON",
    ),
    "payload header nested deep": (
        GraphRequest(
            graph="limited", payload=Payload(header=_nested(100_000)[:900])
        ).SerializeToString(),
        CODE.INVALID_ARGUMENT,
        "payload",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_grpc_request_gets_a_clean_status(running: Running, case: str) -> None:
    data, code, words = CASES[case]
    got, message = raw_invoke(running, data)
    assert got == code, message
    assert words in message
    assert "\n" not in message
    assert "Traceback" not in running.log.read_text()
    assert raw_invoke(running, GraphRequest(graph="limited", json="5").SerializeToString()) == (
        CODE.OK,
        "",
    )


def test_http_and_grpc_enforce_the_same_limit(running: Running) -> None:
    over = post_json(running.http, "/limited", "x" * 2000)
    assert over.status == 413
    under = request(running.http, "POST", "/limited", b"7", {"Content-Type": "application/json"})
    assert under.status == 200
    code, message = raw_invoke(
        running, GraphRequest(graph="limited", json=json.dumps("x" * 2000)).SerializeToString()
    )
    assert code == CODE.RESOURCE_EXHAUSTED
    assert str(LIMIT) in message
