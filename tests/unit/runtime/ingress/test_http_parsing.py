"""Parsing HTTP requests: request lines, headers, framing and limits, from an in-memory stream."""

from __future__ import annotations

import asyncio

import pytest

from braid.runtime._ingress.http_parsing import (
    ByteStream,
    ClientGone,
    HttpError,
    HttpLimits,
    body_length,
    parse_head,
    read_chunked,
)

LIMITS = HttpLimits(head_timeout=0.2, body_idle_timeout=0.2, keep_alive_timeout=0.2)


def stream_of(data: bytes, *, eof: bool = True) -> ByteStream:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return ByteStream(reader)


async def test_head_and_headers_are_parsed() -> None:
    stream = stream_of(b"POST /a%20b/c?input=5&x= HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
    request = parse_head(await stream.read_head(LIMITS, idle=1), LIMITS)
    assert (request.method, request.path, request.version) == ("POST", "/a b/c", "1.1")
    assert request.query == {"input": "5", "x": ""}
    assert request.headers == {"host": "h", "x-a": "1, 2"}
    assert request.keep_alive


@pytest.mark.parametrize(
    ("head", "connection", "keep_alive"),
    [("1.1", "", True), ("1.1", "close", False), ("1.0", "", False), ("1.0", "keep-alive", True)],
)
def test_keep_alive_follows_version_and_connection(
    head: str, connection: str, keep_alive: bool
) -> None:
    extra = f"\r\nConnection: {connection}" if connection else ""
    request = parse_head(f"GET / HTTP/{head}{extra}".encode(), LIMITS)
    assert request.keep_alive is keep_alive


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GARBAGE", 400),
        (b"GET / HTTP/2.0", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1", 414),
        (b"GET / HTTP/1.1\r\nno colon", 400),
        (b"GET / HTTP/1.1\r\nbad name: 1", 400),
        (b"GET / HTTP/1.1" + b"\r\nX: 1" * 101, 431),
    ],
)
def test_malformed_heads_are_rejected_with_their_status(head: bytes, status: int) -> None:
    with pytest.raises(HttpError) as caught:
        parse_head(head, LIMITS)
    assert caught.value.status == status


async def test_a_head_over_the_limit_is_431() -> None:
    stream = stream_of(b"GET / HTTP/1.1\r\nX: " + b"a" * 40_000 + b"\r\n\r\n")
    with pytest.raises(HttpError) as caught:
        await stream.read_head(LIMITS, idle=1)
    assert caught.value.status == 431


async def test_a_slow_head_is_408_and_a_silent_connection_is_gone() -> None:
    with pytest.raises(HttpError) as caught:
        await stream_of(b"GET / HTTP/1.1\r\n", eof=False).read_head(LIMITS, idle=1)
    assert caught.value.status == 408
    with pytest.raises(ClientGone):
        await stream_of(b"", eof=False).read_head(LIMITS, idle=0.05)
    with pytest.raises(ClientGone):
        await stream_of(b"").read_head(LIMITS, idle=1)


async def test_a_head_cut_short_is_400() -> None:
    with pytest.raises(HttpError) as caught:
        await stream_of(b"GET / HTTP/1.1\r\nHost").read_head(LIMITS, idle=1)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("Content-Length: 12", 12),
        ("Transfer-Encoding: chunked", None),
    ],
)
def test_body_length(headers: str, expected: int | None) -> None:
    request = parse_head(f"POST / HTTP/1.1\r\n{headers}".encode(), LIMITS)
    assert body_length(request, 100) == expected


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("POST", "", 411),
        ("POST", "Content-Length: 101", 413),
        ("POST", "Content-Length: 1e3", 400),
        ("POST", "Content-Length: 1\r\nTransfer-Encoding: chunked", 400),
        ("POST", "Transfer-Encoding: gzip", 501),
    ],
)
def test_body_length_errors(method: str, headers: str, status: int) -> None:
    head = f"{method} / HTTP/1.1" + (f"\r\n{headers}" if headers else "")
    with pytest.raises(HttpError) as caught:
        body_length(parse_head(head.encode(), LIMITS), 100)
    assert caught.value.status == status


def test_a_get_without_length_has_no_body() -> None:
    assert body_length(parse_head(b"GET / HTTP/1.1", LIMITS), 100) == 0


async def test_chunked_body_with_extensions_and_trailers() -> None:
    stream = stream_of(b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\nNEXT")
    assert await read_chunked(stream, LIMITS, 100) == b"abcde"
    assert stream.buffered == 4  # the next pipelined request stays buffered


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"zz\r\nabc\r\n0\r\n\r\n", 400),
        (b"3\r\nabcXX0\r\n\r\n", 400),
        (b"65\r\n" + b"a" * 101 + b"\r\n0\r\n\r\n", 413),
        (b"3\r\nab", 400),
    ],
)
async def test_chunked_body_errors(data: bytes, status: int) -> None:
    with pytest.raises(HttpError) as caught:
        await read_chunked(stream_of(data), LIMITS, 100)
    assert caught.value.status == status


async def test_a_truncated_or_stalled_body() -> None:
    with pytest.raises(HttpError) as caught:
        await stream_of(b"abc").read_exactly(10, LIMITS)
    assert caught.value.status == 400
    with pytest.raises(HttpError) as caught:  # shorter than its Content-Length, then silence
        await stream_of(b"abc", eof=False).read_exactly(10, LIMITS)
    assert caught.value.status == 400
    assert "stopped after 3 of 10 bytes" in caught.value.message
    with pytest.raises(HttpError) as caught:  # nothing of the body came
        await stream_of(b"", eof=False).read_exactly(10, LIMITS)
    assert caught.value.status == 408
