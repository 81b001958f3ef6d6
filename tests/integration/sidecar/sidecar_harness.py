"""A harness of real sidecar processes on loopback for the data-plane core tests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from braid.runtime._local.ports import PortReservations

HERE = Path(__file__).parent
REPO = HERE.parents[2]


def reserve_port(reservations: PortReservations) -> int:
    """A port held for the test's sidecars (bound, handed over with --reuse-port), not guessed."""
    return reservations.reserve("127.0.0.1")


def wait_serving(address: str, timeout: float = 20.0, service: str = "braid.v1.Replica") -> None:
    async def check() -> bool:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
            except grpc.aio.AioRpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if asyncio.run(check()):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{address} never became SERVING")


def wait_listening(address: str, timeout: float = 20.0) -> None:
    """Wait until a sidecar answers health at all (it listens while its code still loads)."""
    wait_serving(address, timeout, service="")


@dataclass
class Replicas:
    """Sidecar processes for one graph file, by node.

    In the ``pod`` layout each sidecar has a ``braid worker`` behind a Unix socket, as in a pod.
    """

    graph: Path
    directory: Path
    layout: str = "process"
    peers: dict[str, list[str]] = field(default_factory=dict)
    processes: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: PortReservations = field(default_factory=PortReservations)

    def reserve_port(self) -> int:
        return reserve_port(self.ports)

    def start(self, node: str, *extra: str, replicas: int = 1, wait: bool = True) -> list[str]:
        addresses = [f"127.0.0.1:{self.reserve_port()}" for _ in range(replicas)]
        self.peers.setdefault(node, []).extend(addresses)
        self._write_peers()
        for address in addresses:
            if self.layout == "pod" and "--worker-socket" not in extra:
                extra = (*extra, "--worker-socket", str(self._start_worker(node, address)))
            command = [
                sys.executable, "-m", "braid", "--log-level", "WARNING", "sidecar",
                "--graph", str(self.graph), "--node", node, "--listen", address,
                "--peers", str(self.directory / "peers.json"), "--code-dir", str(HERE / "nodes"),
                "--drain-seconds", "0", "--reuse-port", *extra,
            ]  # fmt: skip
            log = open(self.directory / f"{node}-{address.rsplit(':', 1)[1]}.log", "wb")  # noqa: SIM115
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            self.processes.setdefault(node, []).append(process)
        if wait:
            for address in addresses:
                wait_serving(address)
        return addresses

    def _start_worker(self, node: str, sidecar: str) -> Path:
        port = sidecar.rsplit(":", 1)[1]
        socket_path = self.directory / f"w-{port}.sock"
        command = [
            sys.executable, "-m", "braid", "--log-level", "WARNING", "worker",
            "--graph", str(self.graph), "--node", node, "--socket", str(socket_path),
            "--peers", str(self.directory / "peers.json"), "--code-dir", str(HERE / "nodes"),
            "--advertise", sidecar, "--drain-seconds", "0",
        ]  # fmt: skip
        log = open(self.directory / f"{node}-{port}-worker.log", "wb")  # noqa: SIM115
        self.workers.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        )
        return socket_path

    def _write_peers(self) -> None:
        (self.directory / "peers.json").write_text(json.dumps({"nodes": self.peers}))

    def stop(self) -> None:
        everything = [*self.workers, *(p for ps in self.processes.values() for p in ps)]
        for process in everything:
            process.terminate()
        for processes in [everything]:
            for process in processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.ports.close()
