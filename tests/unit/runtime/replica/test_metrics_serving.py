"""A replica's metrics listen where its gRPC server does: loopback under braid run."""

from __future__ import annotations

import socket
import urllib.request

from prometheus_client import CollectorRegistry, Counter

from braid.runtime._local.ports import PortReservations
from braid.runtime._replica.metrics import metrics_host, serve_metrics


def test_metrics_listen_on_the_host_of_the_grpc_address() -> None:
    assert metrics_host("127.0.0.1:7101") == "127.0.0.1"
    assert metrics_host("0.0.0.0:7101") == "0.0.0.0"
    assert metrics_host("[::1]:7101") == "::1"
    assert metrics_host(":7101") == "0.0.0.0"
    assert metrics_host("unix:/tmp/worker.sock") == "0.0.0.0"


def test_metrics_on_a_reserved_loopback_port_answer_only_on_loopback() -> None:
    registry = CollectorRegistry()
    Counter("braid_probe", "A probe.", registry=registry).inc()
    reservations = PortReservations()
    port = reservations.reserve("127.0.0.1")
    try:
        serve_metrics("127.0.0.1", port, registry, reuse_port=True)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            assert b"braid_probe_total 1.0" in reply.read()
        outside = socket.gethostbyname(socket.gethostname())
        if not outside.startswith("127."):
            with socket.socket() as sock:
                sock.settimeout(2)
                assert sock.connect_ex((outside, port)) != 0
    finally:
        reservations.close()
