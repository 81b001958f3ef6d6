"""Ports are bound once by the launcher and handed over, never picked and bound later."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from braid.runtime._local.launching import GraphFile, Launcher, LaunchSettings
from braid.runtime._local.ports import PortReservations
from braid.spec import load_graph

EXAMPLES = Path(__file__).parents[4] / "examples"


def _plain_bind_fails(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def test_a_reserved_port_is_refused_to_others_and_shared_with_the_child() -> None:
    reservations = PortReservations()
    port = reservations.reserve("127.0.0.1")
    try:
        assert _plain_bind_fails(port)
        with socket.socket() as child:  # what a child started with --reuse-port does
            child.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            child.bind(("127.0.0.1", port))
            child.listen()
    finally:
        reservations.close()
    assert not _plain_bind_fails(port)


@pytest.mark.parametrize("example", ["chain", "ensemble"])
def test_every_port_the_launcher_hands_out_stays_held_until_stop(
    example: str, tmp_path: Path
) -> None:
    path = EXAMPLES / example / "graph.yaml"
    graph = GraphFile(path=path, graph=load_graph(path), code_dir=path.parent)
    launcher = Launcher(
        LaunchSettings(graphs=(graph,), http=("127.0.0.1", 0), grpc=("127.0.0.1", 0)), tmp_path
    )
    launcher.http, launcher.grpc = launcher._ingress_addresses()
    launcher._plan_graph(graph)
    launcher._ingress_spec()
    ports = [launcher.http[1], launcher.grpc[1]] if launcher.http and launcher.grpc else []
    for replica in launcher.replicas:
        argv = list(replica.spec.argv)
        assert "--reuse-port" in argv
        ports += [
            int(argv[argv.index("--listen") + 1].rsplit(":", 1)[1]),
            int(argv[argv.index("--metrics-port") + 1]),
        ]
    assert launcher.metrics_port is not None
    ports.append(launcher.metrics_port)
    assert len(set(ports)) == len(ports) == len(launcher.ports)
    try:
        assert all(_plain_bind_fails(port) for port in ports)
    finally:
        launcher.ports.close()
