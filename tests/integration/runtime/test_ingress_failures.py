"""The ingress when things go wrong: user code raising, deadlines, overload, a replica killed
under load, and big payloads; all through `braid run` and real clients on loopback."""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_harness import (
    GRAPHS,
    Reply,
    Running,
    braid_run,
    curl,
    example_copy,
    grpcurl,
    post_json,
    request,
)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"failures-{layout}")
    files = [GRAPHS / f"{name}.yaml" for name in ("edge", "slow", "bytes", "ticker", "whoami")]
    files.append(example_copy("chain", work, route="/chain"))
    with braid_run(files, work, "--layout", layout) as launched:
        yield launched


def test_user_code_raising_is_a_500_naming_node_and_step(running: Running) -> None:
    reply = post_json(running.http, "/failing", {"a": 1})
    assert reply.status == 500
    error = reply.json()["error"]
    assert error["kind"] == "UserCodeError"
    assert (error["node"], error["step"]) == ("failing", "boom")
    assert "ValueError: cannot handle {'a': 1}" in error["message"]
    assert "Traceback" not in reply.body.decode()


def test_user_code_raising_over_grpc_is_internal_naming_node_and_step(running: Running) -> None:
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", '{"graph": "failing", "json": "1"}')
    assert result.returncode != 0
    assert "Code: Internal" in result.stderr
    assert 'node "failing" (step "boom") raised ValueError' in result.stderr


def test_overload_answers_503_with_retry_after(running: Running) -> None:
    # The slow node runs one request and queues one; the rest must be refused at once.
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: post_json(running.http, "/slow", 1.0), range(6)))
    statuses = sorted(reply.status for reply in replies)
    assert 200 in statuses and 503 in statuses, statuses
    refused = next(reply for reply in replies if reply.status == 503)
    assert refused.json()["error"]["kind"] == "Overloaded"
    assert int(refused.headers["retry-after"]) >= 1


def test_a_node_slower_than_the_client_deadline_is_a_504(running: Running) -> None:
    reply = post_json(running.http, "/slow", 1.5, **{"X-Request-Timeout": "0.3"})
    assert reply.status == 504
    assert reply.json()["error"]["kind"] == "DeadlineExceeded"


def test_a_node_slower_than_the_graph_timeout_is_a_504(running: Running) -> None:
    time.sleep(1.5)  # let the previous test's call finish, so this one is not refused
    reply = post_json(running.http, "/slow", 4.0)  # the graph's requestTimeoutSeconds is 3
    assert reply.status == 504
    assert reply.json()["error"]["kind"] == "DeadlineExceeded"


def test_grpc_deadline_is_deadline_exceeded(running: Running) -> None:
    time.sleep(1.5)
    result = grpcurl(
        running.grpc,
        "braid.v1.Graph/Invoke",
        '{"graph": "slow", "json": "2"}',
        "-max-time",
        "0.5",
    )
    assert result.returncode != 0
    assert "DeadlineExceeded" in result.stderr


def test_a_bad_timeout_header_is_a_400(running: Running) -> None:
    reply = post_json(running.http, "/slow", 0, **{"X-Request-Timeout": "soon"})
    assert reply.status == 400


def test_100_mb_through_a_chain_with_curl(running: Running, tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024) * 100
    source, target = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(data)
    result = curl(
        "--data-binary",
        f"@{source}",
        "-H",
        "Content-Type: application/octet-stream",
        "-o",
        str(target),
        "-w",
        "%{http_code} %{content_type}",
        f"http://{running.http}/bytes",
        timeout=120,
    )
    assert result.stdout == "200 application/octet-stream", result.stderr
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_raw_bytes_over_grpc(running: Running) -> None:
    reply = grpcurl(running.grpc, "braid.v1.Graph/Invoke", '{"graph": "bytes", "raw": "QWRh"}')
    assert json.loads(reply.stdout) == {"raw": "QWRh"}


def _ticker_body(gate: Path, count: int = 5) -> bytes:
    return json.dumps({"gate": str(gate), "count": count}).encode()


def test_sse_streams_item_by_item(running: Running, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    host, port = running.http.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    connection.request("POST", "/ticker", body=_ticker_body(gate), headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    # The first event arrives while the generator still waits for the gate: not buffered.
    assert response.readline() == b'data: {"tick":0}\n'
    assert response.readline() == b"\n"
    gate.touch()
    rest = response.read().decode()
    connection.close()
    events = [json.loads(line[6:]) for line in rest.splitlines() if line.startswith("data: ")]
    assert events == [{"tick": n} for n in range(1, 5)]


def test_json_lines_stream_by_default(running: Running, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    reply = request(
        running.http, "POST", "/ticker", _ticker_body(gate), {"Content-Type": "application/json"}
    )
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in reply.body.splitlines()]
    assert lines == [{"tick": n} for n in range(5)]


def test_grpc_streams_and_invoke_on_a_stream_is_refused(running: Running, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    data = json.dumps({"graph": "ticker", "json": _ticker_body(gate).decode()})
    streamed = grpcurl(running.grpc, "braid.v1.Graph/InvokeStream", data)
    assert streamed.returncode == 0, streamed.stderr
    decoder, text, items = json.JSONDecoder(), streamed.stdout.strip(), []
    while text:
        item, end = decoder.raw_decode(text)
        items.append(json.loads(item["json"]))
        text = text[end:].strip()
    assert items == [{"tick": n} for n in range(5)]
    refused = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
    assert "FailedPrecondition" in refused.stderr and "InvokeStream" in refused.stderr


def _whoami(running: Running, seconds: float) -> Reply:
    return post_json(running.http, "/whoami", seconds)


def test_a_replica_killed_under_load(running: Running) -> None:
    victim = running.pids("whoami/whoami#0")[0]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        pending = [pool.submit(_whoami, running, 2.0) for _ in range(8)]
        time.sleep(0.7)  # the calls are running on both replicas
        os.kill(victim, signal.SIGKILL)
        replies = [future.result(timeout=60) for future in pending]
    failed = [reply for reply in replies if reply.status != 200]
    assert failed, "the killed replica's in-flight requests must fail"
    for reply in failed:  # fast and clear: a 503 that says the replica is unavailable
        assert reply.status == 503
        assert reply.json()["error"]["kind"] == "ReplicaUnavailable"
    assert any(reply.status == 200 for reply in replies)
    # New requests go to the live replica at once.
    after = [_whoami(running, 0.0) for _ in range(6)]
    assert [reply.status for reply in after] == [200] * 6
    assert victim not in {reply.json() for reply in after}
