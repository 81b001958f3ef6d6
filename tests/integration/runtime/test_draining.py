"""Graceful drain: SIGTERM to `braid run`, to the ingress or to a sidecar lets requests in flight
finish (HTTP, gRPC and the Python entry point get their answers), while new connections are
refused at once; and an HTTP client that goes away cancels its request. Each request holds on a
gate file until the test opens it."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from edge_harness import GRAPHS, Running, braid_run, grpcurl, post_json, request

import braid.runtime

GATE = GRAPHS / "gate.yaml"


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _refuses(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


def _started(gate: Path) -> Callable[[], bool]:
    return lambda: Path(f"{gate}.started").exists()


def _grpc_hold(running: Running, gate: Path) -> str:
    data = json.dumps({"graph": "gate", "json": json.dumps(str(gate))})
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
    return result.stdout + result.stderr


def test_braid_run_drains_http_and_grpc_requests_on_sigterm(tmp_path: Path) -> None:
    web, rpc = tmp_path / "web", tmp_path / "rpc"
    with braid_run([GATE], tmp_path / "run", "--drain-timeout", "60") as running:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            http_reply = pool.submit(post_json, running.http, "/gate", str(web))
            grpc_reply = pool.submit(_grpc_hold, running, rpc)
            _wait_until(_started(web), "the HTTP request to start")
            _wait_until(_started(rpc), "the gRPC request to start")
            running.process.send_signal(signal.SIGTERM)
            _wait_until(lambda: _refuses(running.http), "the ingress to refuse connections")
            assert running.process.poll() is None  # still draining
            web.touch()
            rpc.touch()
            reply = http_reply.result()
            assert (reply.status, reply.json()) == (200, "done")
            assert "done" in grpc_reply.result() and "ERROR" not in grpc_reply.result()
        assert running.process.wait(60) == 0


def test_a_sigtermed_ingress_finishes_its_requests(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    with braid_run([GATE], tmp_path / "run") as running:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(post_json, running.http, "/gate", str(gate))
            _wait_until(_started(gate), "the request to start")
            (ingress,) = running.pids("ingress")
            os.kill(ingress, signal.SIGTERM)
            _wait_until(lambda: _refuses(running.http), "the ingress to refuse connections")
            gate.touch()
            reply = held.result()
        assert (reply.status, reply.json()) == (200, "done")


def test_an_http_client_that_goes_away_cancels_its_request(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    body = json.dumps(str(gate)).encode()
    with braid_run([GATE], tmp_path / "run") as running:
        host, port = running.http.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(
                b"POST /gate HTTP/1.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            _wait_until(_started(gate), "the request to start")
        # The connection is closed: the ingress cancels the request, down to the node's code.
        _wait_until(lambda: Path(f"{gate}.cancelled").exists(), "the request to be cancelled")
        assert request(running.http, "GET", "/-/healthz").status == 200


def test_a_sigtermed_sidecar_finishes_its_calls(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    with braid_run([GATE], tmp_path / "run") as running:
        (replica,) = running.pids("replica")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(post_json, running.http, "/gate", str(gate))
            _wait_until(_started(gate), "the request to start")
            os.kill(replica, signal.SIGTERM)
            # Longer than the old drain (2 s wait, then 2 s for calls in flight): a call that
            # outlives that must still be answered.
            time.sleep(5)
            gate.touch()
            reply = held.result()
        assert (reply.status, reply.json()) == (200, "done")


def test_the_python_entry_point_gets_its_answer_when_the_app_closes(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    app = braid.runtime.run(GATE)
    try:
        held = app.remote(str(gate))
        _wait_until(_started(gate), "the request to start")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            closing = pool.submit(app.close)
            address = urlsplit(app.url("gate") or "").netloc
            _wait_until(lambda: _refuses(address), "the ingress to refuse connections")
            gate.touch()
            assert held.result(60) == "done"
            closing.result()
    finally:
        app.close()
