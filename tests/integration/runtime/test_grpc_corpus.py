"""A corpus of malformed and hostile gRPC requests against one running graph: each gets a clean
status with a one-line message, no traceback reaches the log, and a normal request still answers
afterwards. Also: every protocol enforces ``maxRequestBytes``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import grpc
import pytest
from edge_harness import GRAPHS, Running, braid_run, post_json, request

from braid.runtime._proto.braid_pb2 import GraphReply, GraphRequest, Payload

LIMIT = 1000
INVOKE = "/braid.v1.Graph/Invoke"
INVOKE_STREAM = "/braid.v1.Graph/InvokeStream"


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


def raw_stream(running: Running, method: str, data: bytes) -> tuple[grpc.StatusCode, str]:
    """Send ``data`` to a server-streaming ``method`` and read every reply."""
    with grpc.insecure_channel(running.grpc) as channel:
        call = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
        try:
            list(call(data, timeout=30))
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def _json(text: str) -> bytes:
    return GraphRequest(graph="limited", json=text).SerializeToString()


def _payload(header: bytes, *buffers: bytes) -> bytes:
    payload = Payload(header=header, buffers=list(buffers))
    return GraphRequest(graph="limited", payload=payload).SerializeToString()


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def _nested_json(depth: int) -> bytes:
    return _json("[" * depth + "]" * depth)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field, whatever its bytes (protobuf would refuse bad UTF-8)."""
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


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
    "not a protobuf message": (b"\xff\xff\xff\xff", CODE.INVALID_ARGUMENT, "GraphRequest"),
    "truncated message": (
        GraphRequest(graph="limited", json="12345").SerializeToString()[:-2],
        CODE.INVALID_ARGUMENT,
        "GraphRequest",
    ),
    "invalid UTF-8 in the graph name": (
        _field(1, b"\xff\xfelimited"),
        CODE.INVALID_ARGUMENT,
        "GraphRequest",
    ),
    "invalid UTF-8 in the json input": (
        _field(1, b"limited") + _field(2, b'"\xc3\x28"'),
        CODE.INVALID_ARGUMENT,
        "GraphRequest",
    ),
    "empty JSON text": (_json(""), CODE.INVALID_ARGUMENT, "not valid JSON"),
    "JSON with trailing garbage": (_json("1 2"), CODE.INVALID_ARGUMENT, "not valid JSON"),
    "JSON NaN": (_json("NaN"), CODE.INVALID_ARGUMENT, "NaN is not a JSON number"),
    "JSON Infinity": (_json("Infinity"), CODE.INVALID_ARGUMENT, "Infinity is not a JSON number"),
    "JSON NaN inside an object": (
        _json('{"a": NaN}'),
        CODE.INVALID_ARGUMENT,
        "NaN is not a JSON number",
    ),
    "JSON 900-digit integer (a number: answered)": (_json("9" * 900), CODE.OK, ""),
    "JSON nested 450 deep (answered)": (_nested_json(450), CODE.OK, ""),
    "JSON single quotes": (_json("{'a': 1}"), CODE.INVALID_ARGUMENT, "not valid JSON"),
    "JSON unterminated string": (_json('"abc'), CODE.INVALID_ARGUMENT, "not valid JSON"),
    "payload header not JSON": (_payload(b"{bad"), CODE.INVALID_ARGUMENT, "payload"),
    "payload header not UTF-8": (_payload(b'"\xff\xfe"'), CODE.INVALID_ARGUMENT, "payload"),
    "payload header empty (the input is None: answered)": (_payload(b""), CODE.OK, ""),
    "payload buffer index out of range": (
        _payload(b'{"$b": 3}'),
        CODE.INVALID_ARGUMENT,
        "payload",
    ),
    "payload buffer index not a number": (
        _payload(b'{"$b": "x"}', b"data"),
        CODE.INVALID_ARGUMENT,
        "payload",
    ),
    "payload array of object dtype": (
        _payload(b'{"$nd": 0, "dtype": "|O", "shape": [1]}', b"\x00" * 8),
        CODE.INVALID_ARGUMENT,
        "payload",
    ),
    "payload array whose shape does not fit its bytes": (
        _payload(b'{"$nd": 0, "dtype": "<f8", "shape": [100]}', b"\x00" * 8),
        CODE.INVALID_ARGUMENT,
        "payload",
    ),
    "payload upstream marker": (_payload(b'{"$up": 0}'), CODE.INVALID_ARGUMENT, "payload"),
    "payload NaN in the header": (_payload(b"NaN"), CODE.INVALID_ARGUMENT, "payload"),
    "graph name with a newline": (
        GraphRequest(graph="lim\nited", json="1").SerializeToString(),
        CODE.NOT_FOUND,
        "no graph",
    ),
    "graph name of 900 characters": (
        GraphRequest(graph="g" * 900, json="1").SerializeToString(),
        CODE.NOT_FOUND,
        "no graph",
    ),
    "graph name with a trailing space": (
        GraphRequest(graph="limited ", json="1").SerializeToString(),
        CODE.NOT_FOUND,
        "no graph",
    ),
    # protobuf skips a field of the wrong wire type as unknown: no graph name, no input.
    "wrong wire type for the graph name (skipped: answered)": (b"\x08\x01", CODE.OK, ""),
    "length running past the end": (b"\x0a\x7flimited", CODE.INVALID_ARGUMENT, "GraphRequest"),
    "field number zero": (b"\x02\x01x", CODE.INVALID_ARGUMENT, "GraphRequest"),
}

# name: (method, serialized request, expected code, words of the message)
STREAM_CASES: dict[str, tuple[str, bytes, grpc.StatusCode, str]] = {
    "InvokeStream of a corrupt message": (
        INVOKE_STREAM,
        b"\xff\xff\xff\xff",
        CODE.INVALID_ARGUMENT,
        "GraphRequest",
    ),
    "InvokeStream of an unknown graph": (
        INVOKE_STREAM,
        GraphRequest(graph="nope", json="1").SerializeToString(),
        CODE.NOT_FOUND,
        'no graph "nope"',
    ),
    "InvokeStream over the limit": (
        INVOKE_STREAM,
        GraphRequest(graph="limited", raw=b"x" * 5000).SerializeToString(),
        CODE.RESOURCE_EXHAUSTED,
        f"limit is {LIMIT} bytes",
    ),
    "InvokeStream of bad JSON": (
        INVOKE_STREAM,
        _json("{bad"),
        CODE.INVALID_ARGUMENT,
        "not valid JSON",
    ),
    "an unknown method of the Graph service": (
        "/braid.v1.Graph/Nope",
        b"",
        CODE.UNIMPLEMENTED,
        "",
    ),
    "an unknown service": ("/acme.v1.Other/Call", b"", CODE.UNIMPLEMENTED, ""),
    "the replica service, not served by the ingress": (
        "/braid.v1.Replica/CallStream",
        b"",
        CODE.UNIMPLEMENTED,
        "",
    ),
}


@pytest.mark.parametrize("case", STREAM_CASES)
def test_a_bad_streaming_or_unknown_call_gets_a_clean_status(running: Running, case: str) -> None:
    method, data, code, words = STREAM_CASES[case]
    got, message = raw_stream(running, method, data)
    assert got == code, message
    assert words in message
    assert "\n" not in message
    assert "Traceback" not in running.log.read_text()
    assert raw_invoke(running, _json("5")) == (CODE.OK, "")


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


def test_1500_concurrent_calls_on_one_channel_are_answered_or_refused_as_overload(
    running: Running,
) -> None:
    # gRPC's cap on streams per connection used to refuse the streams beyond 1,000 with
    # RST_STREAM, which the client saw as UNAVAILABLE; overload has a code and a retry hint.
    async def flood() -> list[tuple[grpc.StatusCode, str]]:
        async with grpc.aio.insecure_channel(running.grpc) as channel:
            invoke = channel.unary_unary(
                INVOKE,
                request_serializer=GraphRequest.SerializeToString,
                response_deserializer=GraphReply.FromString,
            )

            async def one(number: int) -> tuple[grpc.StatusCode, str]:
                try:
                    reply = await invoke(
                        GraphRequest(graph="limited", json=str(number)), timeout=60
                    )
                except grpc.aio.AioRpcError as exc:
                    return exc.code(), exc.details() or ""
                return grpc.StatusCode.OK, reply.json

            return await asyncio.gather(*(one(number) for number in range(1500)))

    outcomes = asyncio.run(flood())
    for code, message in outcomes:
        assert code in (CODE.OK, CODE.RESOURCE_EXHAUSTED), message
        if code == CODE.RESOURCE_EXHAUSTED:
            assert "retry" in message
    answered = [int(message) for code, message in outcomes if code == CODE.OK]
    assert answered, "every call was refused"
    assert "Traceback" not in running.log.read_text()
