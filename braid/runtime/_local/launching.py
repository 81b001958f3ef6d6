"""The local launcher behind ``braid run``: a whole graph as processes on loopback.

For every replica of every node the launcher starts one sidecar process (``braid sidecar``) on a
free port of 127.0.0.1. In the default *process* layout the sidecar hosts the node's code itself;
in the *pod* layout (``--layout pod``) each replica is a sidecar plus a ``braid worker`` behind a
Unix socket, exactly the two containers of a pod, with the worker's liveness port and peer
discovery, so that everything that runs on Kubernetes can be run and tested here. An ``http:``
node also gets its model server (the node's ``http.command`` in the manifest's folder, with
``PORT`` set).
Each graph has a peers file (the format of
:class:`~braid.runtime._discovery.peers.StaticDiscovery`) that lists the replicas that are
ready; the launcher rewrites it as replicas come and go, and sidecars and the ingress re-read it.
Once every
replica reports SERVING on gRPC health, the ingress starts (``braid ingress``), and once it is
ready the launcher prints the endpoints (and writes them as JSON to ``status_file``).

A process that crashes is restarted on the same port with backoff and leaves the peers file
meanwhile (:mod:`braid.runtime._local.processes`). :meth:`Launcher.stop` stops the ingress
first, then everything else, each process group with SIGTERM and then SIGKILL, so that nothing
is left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from braid.runtime._discovery.peers import write_peers_file
from braid.runtime._ingress.routes import check_servable
from braid.runtime._local import workdirs
from braid.runtime._local.ports import PortReservations
from braid.runtime._local.processes import (
    Backoff,
    LaunchError,
    Listener,
    ProcessSpec,
    Supervised,
    grpc_health_probe,
    http_probe,
)
from braid.runtime._wire.client import REPLICA_SERVICE
from braid.spec import DRAIN_TIMEOUT_SECONDS, DeploymentGraph, InferenceProtocol, Node, hosts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphFile:
    """A graph to run: its manifest, the parsed graph, and the folder its code is imported from."""

    path: Path
    graph: DeploymentGraph
    code_dir: Path


class Layout(StrEnum):
    """How ``braid run`` lays out a replica's processes."""

    #: One process per replica: the sidecar hosts the node's code (fastest; the default).
    PROCESS = "process"
    #: A sidecar and a ``braid worker`` per replica, as in a Kubernetes pod.
    POD = "pod"


NOTHING_TO_SERVE = "nothing to serve: both --http and --grpc are off; turn one of them on"

#: Seconds between readiness probes of a running replica (the kubelet's periodSeconds).
READINESS_PERIOD_SECONDS = 1.0


@dataclass(frozen=True)
class LaunchSettings:
    """What ``braid run`` starts and where."""

    graphs: tuple[GraphFile, ...]
    http: tuple[str, int] | None = ("127.0.0.1", 8000)
    grpc: tuple[str, int] | None = ("127.0.0.1", 9000)
    host: str = "127.0.0.1"
    log_level: str = "INFO"
    status_file: Path | None = None
    startup_timeout: float = 120.0
    #: Seconds each process may drain requests in flight when braid run stops.
    drain_timeout: float = DRAIN_TIMEOUT_SECONDS
    #: Seconds past the drain before a process that has not exited gets SIGKILL.
    grace: float = 10.0
    python: str = sys.executable
    backoff: Backoff = field(default_factory=Backoff)
    layout: Layout = Layout.PROCESS


def free_port(host: str) -> int:
    """A port that nothing listens on right now (the kernel's pick), for a program braid does not
    control (an HTTP model server's ``PORT``); braid's own processes get reserved ports."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port_free(host: str, port: int, flag: str) -> None:
    """:class:`LaunchError` with the flag to change when ``host:port`` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LaunchError(
                f"{host}:{port} is not available ({exc.strerror}); is another braid run "
                f"using it? Choose another with {flag} {host}:PORT"
            ) from None


def replica_count(node: Node) -> int:
    """Replicas to run locally: the fixed count, or the autoscaling minimum, at least one."""
    if node.replicas is not None:
        return max(node.replicas, 1)
    if node.autoscaling is not None:
        return max(node.autoscaling.min_replicas, 1)
    return 1


class Launcher:
    """Starts, supervises and stops the processes of ``braid run``."""

    def __init__(self, settings: LaunchSettings, work_dir: Path | None = None) -> None:
        self.settings = settings
        self._temporary = None if work_dir else workdirs.work_dir("braid-run-")
        self.work_dir = work_dir or Path(self._temporary.name if self._temporary else ".")
        self.replicas: list[Supervised] = []
        self.servers: list[Supervised] = []
        self.ingress: Supervised | None = None
        self.http: tuple[str, int] | None = None
        self.grpc: tuple[str, int] | None = None
        self.metrics_port: int | None = None
        self._peers: dict[Path, dict[str, list[str]]] = {}
        self.ports = PortReservations()
        self._started = False

    def peers_file(self, graph: GraphFile) -> Path:
        return self.work_dir / f"peers-{graph.graph.metadata.name}.json"

    async def start(self) -> None:
        """Start every process and wait until the ingress is ready; stops all on failure."""
        check_servable([graph.graph for graph in self.settings.graphs])
        if self.settings.http is None and self.settings.grpc is None:
            raise LaunchError(NOTHING_TO_SERVE)  # before starting any replica
        self.http, self.grpc = self._ingress_addresses()
        try:
            for graph in self.settings.graphs:
                self._peers[self.peers_file(graph)] = {n.name: [] for n in graph.graph.spec.nodes}
                write_peers_file(self.peers_file(graph), self._peers[self.peers_file(graph)])
                self._plan_graph(graph)
            for process in self.servers + self.replicas:
                await process.start()
            await asyncio.gather(
                *(p.wait_ready(p.startup_timeout) for p in self.servers + self.replicas)
            )
            self.ingress = self._supervised(self._ingress_spec())
            await self.ingress.start()
            await self.ingress.wait_ready(self.settings.startup_timeout)
        except BaseException:
            await self.stop()
            raise
        for process in self._all():
            process.supervise()
        self._started = True
        self._write_status()

    async def stop(self) -> None:
        """Stop the ingress (it drains), then everything else; nothing is left running."""
        grace = self.settings.drain_timeout + self.settings.grace
        if self.ingress is not None:
            await self.ingress.stop(grace)
        await asyncio.gather(*(p.stop(grace) for p in self.replicas + self.servers))
        self.ports.close()
        if self._temporary is not None:
            self._temporary.cleanup()

    def endpoints(self) -> list[dict[str, str | None]]:
        """Per graph: its name, HTTP URL and gRPC target."""
        found: list[dict[str, str | None]] = []
        for graph in self.settings.graphs:
            http = None
            if self.http is not None:
                http = f"http://{self.http[0]}:{self.http[1]}{graph.graph.spec.ingress.http.route_prefix}"
            grpc = f"{self.grpc[0]}:{self.grpc[1]}" if self.grpc is not None else None
            found.append({"name": graph.graph.metadata.name, "http": http, "grpc": grpc})
        return found

    def pids(self) -> list[int]:
        return [p.pid for p in self._all() if p.pid is not None]

    def _all(self) -> list[Supervised]:
        return [*self.servers, *self.replicas, *([self.ingress] if self.ingress else [])]

    def _ingress_addresses(self) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
        addresses: list[tuple[str, int] | None] = []
        for address, flag in ((self.settings.http, "--http"), (self.settings.grpc, "--grpc")):
            if address is None:
                addresses.append(None)
                continue
            host, port = address
            if port == 0:
                port = self.ports.reserve(host)
            else:
                check_port_free(host, port, flag)
            addresses.append((host, port))
        return addresses[0], addresses[1]

    def _braid(self, *args: str) -> list[str]:
        return [self.settings.python, "-m", "braid", "--log-level", self.settings.log_level, *args]

    def _plan_graph(self, graph: GraphFile) -> None:
        host = self.settings.host
        for unit in hosts(graph.graph):  # a node, or a co-location group in one process
            node = unit.node
            for index in range(replica_count(node)):
                name = f"{graph.graph.metadata.name}/{node.name}#{index}"
                port = self.ports.reserve(host)
                args = [
                    "sidecar",
                    "--reuse-port",
                    *("--graph", str(graph.path), "--node", node.name),
                    *(
                        "--listen",
                        f"{host}:{port}",
                        "--metrics-port",
                        str(self.ports.reserve(host)),
                    ),
                    *("--peers", str(self.peers_file(graph)), "--code-dir", str(graph.code_dir)),
                    *("--drain-timeout", str(self.settings.drain_timeout)),
                ]
                if node.server is not None:
                    args += ["--http-port", str(self._plan_server(graph, node, name))]
                elif self.settings.layout is Layout.POD:
                    socket = self._plan_worker(graph, node, name, f"{host}:{port}")
                    args += ["--worker-socket", str(socket)]
                spec = ProcessSpec(
                    name=f"replica {name}",
                    argv=self._braid(*args),
                    probe=grpc_health_probe(f"{host}:{port}", REPLICA_SERVICE),
                    address=f"{host}:{port}",
                    port=port,
                    labels={
                        "graph": str(self.peers_file(graph)),
                        "nodes": ",".join(member.name for member in unit.members),
                    },
                    readiness_period=READINESS_PERIOD_SECONDS,
                    liveness=grpc_health_probe(f"{host}:{port}", ""),
                )
                self.replicas.append(
                    self._supervised(spec, self._replica_changed, node.startup_seconds)
                )

    def _plan_worker(self, graph: GraphFile, node: Node, name: str, sidecar: str) -> Path:
        """The ``braid worker`` of one replica in the pod layout; returns its socket's path."""
        host = self.settings.host
        # Short: a Unix socket's path is limited to 107 bytes.
        socket = self.work_dir / f"worker-{len(self.servers)}.sock"
        health = self.ports.reserve(host)
        args = [
            "worker",
            *("--graph", str(graph.path), "--node", node.name, "--socket", str(socket)),
            *("--peers", str(self.peers_file(graph)), "--code-dir", str(graph.code_dir)),
            *("--advertise", sidecar, "--health-port", str(health), "--health-host", host),
            *("--drain-timeout", str(self.settings.drain_timeout), "--reuse-port"),
        ]
        liveness = grpc_health_probe(f"{host}:{health}", "")
        spec = ProcessSpec(
            name=f"worker {name}",
            argv=self._braid(*args),
            probe=liveness,
            liveness=liveness,
            port=health,
        )
        self.servers.append(self._supervised(spec, startup_seconds=node.startup_seconds))
        return socket

    def _plan_server(self, graph: GraphFile, node: Node, name: str) -> int:
        server, field = node.server, "http" if node.http is not None else "inference"
        if server is None or not server.command:
            raise LaunchError(
                f'node "{node.name}" of graph "{graph.graph.metadata.name}" is a model server '
                f"without {field}.command; braid run needs the command that starts it"
            )
        port = free_port(self.settings.host)
        grpc_server = (
            node.inference is not None and node.inference.protocol is InferenceProtocol.GRPC
        )
        spec = ProcessSpec(
            name=f"model server {name}",
            argv=[*server.command, *(server.args or [])],
            probe=grpc_health_probe(f"{self.settings.host}:{port}", "")
            if grpc_server
            else http_probe(self.settings.host, port, server.readiness_path),
            cwd=graph.code_dir,
            env={"PORT": str(port)},
            port=port,
            command_hint=f'; check {field}.command of node "{node.name}"',
        )
        self.servers.append(self._supervised(spec, startup_seconds=node.startup_seconds))
        return port

    def _ingress_spec(self) -> ProcessSpec:
        args = ["ingress", "--reuse-port"]
        for graph in self.settings.graphs:
            args += ["--graph", str(graph.path), "--peers", str(self.peers_file(graph))]
        args += ["--http", _address(self.http), "--grpc", _address(self.grpc)]
        self.metrics_port = self.ports.reserve(self.settings.host)
        args += ["--metrics-port", str(self.metrics_port)]
        args += ["--drain-timeout", str(self.settings.drain_timeout)]
        if self.http is not None:
            probe = http_probe(self.http[0], self.http[1], "/-/ready")
        elif self.grpc is not None:
            probe = grpc_health_probe(f"{self.grpc[0]}:{self.grpc[1]}", "braid.v1.Graph")
        else:
            raise LaunchError(NOTHING_TO_SERVE)
        port = (self.http or self.grpc or ("", None))[1]
        return ProcessSpec(name="ingress", argv=self._braid(*args), probe=probe, port=port)

    def _supervised(
        self,
        spec: ProcessSpec,
        listener: Listener | None = None,
        startup_seconds: float | None = None,
    ) -> Supervised:
        """``spec`` supervised; its start-up may take a node's ``startupSeconds`` if it has one,
        else ``--startup-timeout``."""

        def changed(process: Supervised, ready: bool) -> None:
            if listener is not None:
                listener(process, ready)
            if ready and self._started:  # a restart: new pids in the status file
                self._write_status()

        return Supervised(
            spec,
            backoff=self.settings.backoff,
            listener=changed,
            startup_timeout=startup_seconds or self.settings.startup_timeout,
        )

    def _replica_changed(self, process: Supervised, ready: bool) -> None:
        """Keep the peers file to the replicas that are ready."""
        spec = process.spec
        peers_file = Path(spec.labels["graph"])
        for node in spec.labels["nodes"].split(","):  # a group's replica serves every member
            addresses = self._peers[peers_file][node]
            if ready and spec.address not in addresses:
                addresses.append(spec.address)
            elif not ready and spec.address in addresses:
                addresses.remove(spec.address)
        write_peers_file(peers_file, self._peers[peers_file])

    def _write_status(self) -> None:
        path = self.settings.status_file
        if path is None:
            return
        status = {
            "graphs": self.endpoints(),
            "http": _address(self.http),
            "grpc": _address(self.grpc),
            "metrics": f"http://{self.settings.host}:{self.metrics_port}/metrics",
            "pids": self.pids(),
            "processes": [
                {
                    "name": p.spec.name,
                    "pid": p.pid,
                    **({"address": a} if (a := p.spec.address) else {}),
                }
                for p in self._all()
            ],
        }
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(status, indent=2))
        temporary.replace(path)


def _address(address: tuple[str, int] | None) -> str:
    return "off" if address is None else f"{address[0]}:{address[1]}"
