"""A corpus of malformed and hostile HTTP requests: each gets a clear status, none takes the
ingress down, and the ingress answers normally afterwards."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import pytest
from edge_harness import GRAPHS, Running, braid_run, example_copy, post_json, request

CHAIN = "/chain"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("malformed")
    files = [example_copy("chain", work, route=CHAIN), GRAPHS / "ticker.yaml"]
    with braid_run(files, work) as launched:
        yield launched


def raw(
    running: Running,
    data: bytes,
    *,
    close_after: bool = False,
    until_closed: bool = False,
    timeout: float = 30,
) -> bytes:
    """Send raw bytes, return what the server answers: one response, or everything until it
    closes (``until_closed``, or ``close_after``: half-close first), or what came by the
    timeout. A client that half-closes is taken as gone."""
    host, port = running.http.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        if close_after:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and not (close_after or until_closed):
                    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                    length = _content_length(head)
                    if length is not None and len(body) >= length:
                        break
        except TimeoutError:
            pass
        return b"".join(chunks)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


CORPUS = {
    # name: (request bytes, expected status)
    "bad json": (b"POST /chain HTTP/1.1\r\nContent-Length: 5\r\n\r\n{bad}", 400),
    "empty body": (b"POST /chain HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400),
    "no length": (b"POST /chain HTTP/1.1\r\nHost: x\r\n\r\n", 411),
    "unknown route": (b"POST /nowhere HTTP/1.1\r\nContent-Length: 1\r\n\r\n5", 404),
    "unknown admin route": (b"GET /-/secrets HTTP/1.1\r\n\r\n", 404),
    "wrong method": (b"DELETE /chain HTTP/1.1\r\n\r\n", 405),
    "garbage": (b"\x00\xff\xfe garbage \x01\r\n\r\n", 400),
    "http/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "huge headers": (b"GET /chain HTTP/1.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431),
    "many headers": (
        b"GET /chain HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(500)) + b"\r\n",
        431,
    ),
    "long request line": (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", 414),
    "bad header line": (b"GET /chain HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    "bad content length": (b"POST /chain HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    "length and chunked": (
        b"POST /chain HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n5",
        400,
    ),
    "bad chunk size": (
        b"POST /chain HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n5\r\n0\r\n\r\n",
        400,
    ),
    "unsupported content type": (
        b"POST /chain HTTP/1.1\r\nContent-Type: multipart/form-data\r\nContent-Length: 1\r\n\r\n5",
        415,
    ),
    "over the size limit": (
        b"POST /ticker HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n",
        413,
    ),
    # Defects of the hand-written parser (issue 13): each is refused by llhttp at once.
    "chunk size 0x1": (
        b"POST /chain HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\n5\r\n0\r\n\r\n",
        400,
    ),
    "chunk size +1": (
        b"POST /chain HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+1\r\n5\r\n0\r\n\r\n",
        400,
    ),
    "chunk size 0_1": (
        b"POST /chain HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0_1\r\n5\r\n0\r\n\r\n",
        400,
    ),
    "content length of a non-ascii digit": (
        b"POST /chain HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n55",
        400,
    ),
    "nul in a header value": (b"GET /-/healthz HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400),
    "bare LF line ends": (b"GET /-/healthz HTTP/1.1\nHost: x\n\n", 400),
    "TLS client hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32), 400),
    "random bytes": (bytes((i * 151 + 7) % 256 for i in range(512)), 400),
    "unsupported transfer encoding": (
        b"POST /chain HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
    ),
    "wrong input type": (b'POST /chain HTTP/1.1\r\nContent-Length: 3\r\n\r\n"x"', 500),
    "not utf-8 json": (b"POST /chain HTTP/1.1\r\nContent-Length: 2\r\n\r\n\xff\xfe", 400),
    "deep json": (
        b"POST /chain HTTP/1.1\r\nContent-Length: 200000\r\n\r\n" + b"[" * 200_000,
        400,
    ),
}


def _post(body: bytes, content_type: str = "application/json") -> bytes:
    return (
        b"POST /chain HTTP/1.1\r\nContent-Type: " + content_type.encode()
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )  # fmt: skip


# name: (request bytes, expected status, words the error message holds)
MESSAGES: dict[str, tuple[bytes, int, str]] = {
    "NaN": (_post(b"NaN"), 400, "NaN is not a JSON number"),
    "Infinity": (_post(b"Infinity"), 400, "Infinity is not a JSON number"),
    "-Infinity": (_post(b"-Infinity"), 400, "-Infinity is not a JSON number"),
    "NaN inside a list": (_post(b"[1, NaN]"), 400, "NaN is not a JSON number"),
    "5,000-digit integer": (_post(b"9" * 5000), 400, "digits"),
    "415 kind": (_post(b"5", "text/html"), 415, "UnsupportedMediaType"),
    **{
        f"bad json {i}": (_post(body), 400, "not valid JSON")
        for i, body in enumerate(
            [
                b"{",
                b"}",
                b"[1,",
                b"[1,]",
                b"{'a': 1}",
                b"tru",
                b"nul",
                b'"unterminated',
                b"01",
                b"1.",
                b".5",
                b"+1",
                b"0x10",
                b"{1: 2}",
                b'{"a" 1}',
                b'{"a": }',
                b"[1 2]",
                b'"',
                b"undefined",
                b"None",
                b"True",
                b"1e",
                b"--1",
                b"[[[]]",
                b'"\\x41"',
                b'{"a":1,}',
                b"/* c */ 1",
                b"1 // c",
                b"'s'",
                b"\x00",
            ]
        )
    },
    **{
        f"method {method}": (b"%s /chain HTTP/1.1\r\nContent-Length: 0\r\n\r\n" % method, 405, "")
        for method in [b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"TRACE"]
    },
    **{
        f"content type {kind}": (_post(b"5", kind), 415, "unsupported Content-Type")
        for kind in [
            "text/csv",
            "text/html",
            "application/xml",
            "image/png",
            "application/yaml",
            "multipart/mixed",
            "video/mp4",
        ]
    },
}


@pytest.mark.parametrize("name", list(MESSAGES))
def test_bad_input_gets_its_status_and_message(running: Running, name: str) -> None:
    data, expected, words = MESSAGES[name]
    answer = raw(running, data)
    assert status_of(answer) == expected, answer[:300]
    body = answer.partition(b"\r\n\r\n")[2]
    if words:
        error = json.loads(body)["error"]
        assert words in f"{error['kind']}: {error['message']}"
        assert "\n" not in error["message"]
    assert "Traceback" not in running.log.read_text()
    assert post_json(running.http, CHAIN, 5).json() == 12


@pytest.mark.parametrize("name", list(CORPUS))
def test_malformed_request_gets_a_clear_status(running: Running, name: str) -> None:
    data, expected = CORPUS[name]
    answer = raw(running, data)
    assert status_of(answer) == expected
    body = answer.partition(b"\r\n\r\n")[2]
    if body:
        assert "kind" in json.loads(body)["error"]
        assert b"Traceback" not in body


def test_chunked_body_and_pipelined_requests(running: Running) -> None:
    chunked = b"POST /chain HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n5\r\n0\r\n\r\n"
    second = b"POST /chain HTTP/1.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\n6"
    answer = raw(running, chunked + second, until_closed=True)
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.endswith(b"14\n")


def test_head_is_answered_without_a_body_and_the_connection_stays_framed(
    running: Running,
) -> None:
    head = b"HEAD /chain HTTP/1.1\r\nHost: x\r\n\r\n"
    health = b"GET /-/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw(running, head + health, until_closed=True)
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert status_of(first) == 405
    # What follows the HEAD answer's head is the next response, not a body.
    assert status_of(rest) == 200
    assert rest.endswith(b'{"status":"ok"}\n')


def test_an_upgrade_to_h2c_is_served_as_http_1_1(running: Running) -> None:
    answer = raw(
        running,
        b"GET /-/healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    )
    assert status_of(answer) == 200


def test_a_body_that_trickles_in_is_cut_off_at_the_deadline(running: Running) -> None:
    # One byte a second (well inside the per-read timeout) never finishes 100 bytes before the
    # request's 2 s deadline: 408, whatever the pace.
    host, port = running.http.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /chain HTTP/1.1\r\nX-Request-Timeout: 2\r\nContent-Length: 100\r\n\r\n")
        sock.settimeout(1.0)
        answer = b""
        for _ in range(100):
            with contextlib.suppress(OSError):  # the answer may have come and closed already
                sock.sendall(b"1")
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            break
        # The head and the body may arrive in separate segments: read until the server closes.
        sock.settimeout(10.0)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert status_of(answer) == 408, answer
    assert b"deadline" in answer


def test_truncated_body_and_early_close_leave_the_ingress_up(running: Running) -> None:
    raw(running, b"POST /chain HTTP/1.1\r\nContent-Length: 100\r\n\r\n12345", close_after=True)
    raw(running, b"POST /chain HTTP/1.1\r\nContent-Le", close_after=True)
    assert post_json(running.http, CHAIN, 5).json() == 12


def test_slowloris_is_cut_off(running: Running) -> None:
    host, port = running.http.split(":")
    with socket.create_connection((host, int(port)), timeout=40) as slow:
        slow.sendall(b"POST /chain HTTP/1.1\r\nX-A: 1\r\n")
        # Meanwhile everyone else is served.
        assert post_json(running.http, CHAIN, 1).json() == 4
        answer = slow.recv(65536)  # the head never completes: 408 within the head timeout
    assert status_of(answer) == 408


def test_the_ingress_still_answers_after_the_corpus(running: Running) -> None:
    assert request(running.http, "GET", "/-/healthz").status == 200
    assert post_json(running.http, CHAIN, 5).json() == 12
