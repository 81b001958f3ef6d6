"""The HTTP server in-process on loopback: framing, keep-alive, errors, streams, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from braid.runtime._ingress.http_parsing import HttpLimits, HttpRequest
from braid.runtime._ingress.http_server import HttpServer, Responder, error_body, sse_event


def test_sse_event_framing() -> None:
    assert sse_event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert sse_event(b"x", "error") == b"event: error\ndata: x\n\n"
    assert sse_event(b"a\nb") == b"data: a\ndata: b\n\n"


def test_error_body() -> None:
    assert error_body("BadRequest", "no", step="s") == (
        b'{"error": {"kind": "BadRequest", "message": "no", "node": "", "step": "s"}}\n'
    )


class Recorder:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def __call__(self, request: HttpRequest, responder: Responder) -> None:
        if request.path == "/echo":
            await responder.send(200, request.body, content_type="application/octet-stream")
        elif request.path == "/stream":
            await responder.start_stream("application/x-ndjson")
            for number in range(3):
                await responder.write_chunk(b"%d\n" % number)
            await responder.end_stream()
        elif request.path == "/hang":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        else:
            raise RuntimeError("a bug in a handler")


@pytest.fixture
async def server() -> AsyncIterator[tuple[HttpServer, Recorder]]:
    recorder = Recorder()
    server = HttpServer(recorder, limits=HttpLimits(head_timeout=1, body_idle_timeout=1))
    await server.start("127.0.0.1", 0)
    yield server, recorder
    await server.close()


async def exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def test_keep_alive_serves_several_requests(server: tuple[HttpServer, Recorder]) -> None:
    one = b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
    two = b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nyou"
    answer = await exchange(server[0].port, one + two)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.endswith(b"Connection: close\r\n\r\nyou")


async def test_expect_continue(server: tuple[HttpServer, Recorder]) -> None:
    data = b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok"
    answer = await exchange(server[0].port, data)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")


async def test_a_chunked_stream(server: tuple[HttpServer, Recorder]) -> None:
    answer = await exchange(server[0].port, b"GET /stream HTTP/1.1\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"2\r\n0\n\r\n2\r\n1\n\r\n2\r\n2\n\r\n0\r\n\r\n"


async def test_a_handler_bug_is_a_500_without_traceback(
    server: tuple[HttpServer, Recorder],
) -> None:
    answer = await exchange(server[0].port, b"GET /bug HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"Traceback" not in answer and b"internal error" in answer


async def test_a_parse_error_closes_the_connection(server: tuple[HttpServer, Recorder]) -> None:
    answer = await exchange(server[0].port, b"NOT HTTP\r\n\r\nGET /echo HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"kind": "BadRequest"' in answer
    assert b"HTTP/1.1 200" not in answer


async def test_a_client_that_goes_away_cancels_its_request(
    server: tuple[HttpServer, Recorder],
) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", server[0].port)
    writer.write(b"GET /hang HTTP/1.1\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await asyncio.wait_for(server[1].cancelled.wait(), 10)
