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
meanwhile (:mod:`braid.runtime._local.processes`). A node with ``autoscaling`` starts with
``minReplicas`` (maybe none) and the :class:`~braid.runtime._local.scaling.LocalAutoscaler`
adds and drains replicas while it runs (:meth:`Launcher.scale`): a new replica joins the peers
file once it is ready; a removed one leaves the peers file first, then drains. A replica that
cannot start while waking a node puts its reason in the peers file, so that the requests held
for the node fail with it. :meth:`Launcher.stop` stops the ingress
first, then everything else, each process group with SIGTERM and then SIGKILL, so that nothing
is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from braid.runtime._discovery.peers import write_peers_file
from braid.runtime._ingress.routes import check_servable
from braid.runtime._local import workdirs
from braid.runtime._local.entry import entry_host, entry_refusal
from braid.runtime._local.environments import interpreter_of
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
from braid.runtime._local.scaling import DEFAULT_INTERVAL_SECONDS, LocalAutoscaler, ScaledUnit
from braid.runtime._wire.client import REPLICA_SERVICE
from braid.spec import (
    DRAIN_TIMEOUT_SECONDS,
    DeploymentGraph,
    Host,
    InferenceProtocol,
    Node,
    hosts,
)

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
#: Seconds a drained replica stays up after leaving the peers file, so that every caller has
#: re-read the file (they check it every 0.2 s) before it stops taking calls.
WITHDRAW_NOTICE_SECONDS = 0.5
#: Seconds a replica's start-up failure stays in the peers file: held and new requests for the
#: node fail with it meanwhile; afterwards a request wakes the node again.
WAKE_FAILURE_SECONDS = 5.0


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
    #: Bytes the processes may hold in shared memory at once (decision 0012); None: their
    #: default, 0: no shared memory (every value over gRPC).
    shared_memory_bytes: int | None = None
    #: Seconds between autoscaling decisions.
    autoscale_interval: float = DEFAULT_INTERVAL_SECONDS
    #: The gRPC address of each graph that a sub-graph step calls and this run does not serve
    #: (graphs run together are called in the ingress's own process).
    graph_addresses: tuple[tuple[str, str], ...] = ()
    #: The ingress also hosts a replica of the flow's entry host and calls it in process
    #: (decision 0024; process layout and one graph only).
    entry_in_ingress: bool = False
    #: The processes call each other's unary ``Call`` over Unix sockets in the run's folder
    #: instead of gRPC (decision 0025; the process layout only: the pod layout stays a pod's).
    local_calls: bool = True


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
    """Replicas to start locally: the fixed count (at least one), or the autoscaling minimum
    (maybe none: the autoscaler starts one on demand)."""
    if node.replicas is not None:
        return max(node.replicas, 1)
    if node.autoscaling is not None:
        return node.autoscaling.min_replicas
    return 1


@dataclass
class LocalReplica:
    """One replica of a unit: its sidecar and the processes beside it (a worker, a server)."""

    sidecar: Supervised
    companions: list[Supervised]
    metrics: str
    termination_log: Path


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
        #: Per peers file: each ready replica's address to its metrics address.
        self._metrics: dict[Path, dict[str, str]] = {}
        #: The interpreter of each (manifest, node or group) that has a local environment.
        self._pythons: dict[tuple[Path, str], str] = {}
        self._failures: dict[Path, dict[str, tuple[str, float]]] = {}
        self.ports = PortReservations()
        self._started = False
        #: The shared-memory folder of every process of this run, removed when it stops.
        self._shared = workdirs.shared_memory_dir() if settings.shared_memory_bytes != 0 else None
        #: Per autoscaled unit (graph name, unit name): its state and its replicas.
        self._scaled: dict[tuple[str, str], tuple[ScaledUnit, GraphFile, Host]] = {}
        self._unit_replicas: dict[tuple[str, str], list[LocalReplica]] = {}
        self._next_index: dict[tuple[str, str], int] = {}
        self._scaling_tasks: set[asyncio.Task[None]] = set()
        #: Replicas being drained: out of the lists above, still to be stopped.
        self._draining: list[LocalReplica] = []
        self._autoscaler: asyncio.Task[None] | None = None

    def peers_file(self, graph: GraphFile) -> Path:
        return self.work_dir / f"peers-{graph.graph.metadata.name}.json"

    async def start(self) -> None:
        """Start every process and wait until the ingress is ready; stops all on failure."""
        check_servable([graph.graph for graph in self.settings.graphs])
        if self.settings.http is None and self.settings.grpc is None:
            raise LaunchError(NOTHING_TO_SERVE)  # before starting any replica
        self.http, self.grpc = self._ingress_addresses()
        try:
            await self._prepare_environments()
            entry = self._entry_host()
            for graph in self.settings.graphs:
                self._peers[self.peers_file(graph)] = {n.name: [] for n in graph.graph.spec.nodes}
                write_peers_file(self.peers_file(graph), self._peers[self.peers_file(graph)])
                self._plan_graph(graph)
            for process in self.servers + self.replicas:
                await process.start()
            await asyncio.gather(
                *(p.wait_ready(p.startup_timeout) for p in self.servers + self.replicas)
            )
            self.ingress = self._supervised(self._ingress_spec(entry))
            await self.ingress.start()
            await self.ingress.wait_ready(self.settings.startup_timeout)
        except BaseException:
            await self.stop()
            raise
        for process in self._all():
            process.supervise()
        self._started = True
        self._write_status()
        if self._scaled:
            autoscaler = LocalAutoscaler(self, interval=self.settings.autoscale_interval)
            self._autoscaler = asyncio.create_task(autoscaler.run(), name="braid autoscaler")

    async def stop(self) -> None:
        """Stop the ingress (it drains), then everything else; nothing is left running."""
        grace = self.settings.drain_timeout + self.settings.grace
        for task in [*([self._autoscaler] if self._autoscaler else []), *self._scaling_tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.ingress is not None:
            await self.ingress.stop(grace)
        draining = [p for r in self._draining for p in (r.sidecar, *r.companions)]
        await asyncio.gather(*(p.stop(grace) for p in self.replicas + self.servers + draining))
        self.ports.close()
        if self._shared is not None:
            self._shared.cleanup()
        if self._temporary is not None:
            self._temporary.cleanup()

    def endpoints(self) -> list[dict[str, str | None]]:
        """Per graph: its name, HTTP URL, gRPC target and live page's URL (if it has one)."""
        found: list[dict[str, str | None]] = []
        for graph in self.settings.graphs:
            http = page = None
            name = graph.graph.metadata.name
            if self.http is not None:
                origin = f"http://{self.http[0]}:{self.http[1]}"
                http = f"{origin}{graph.graph.spec.ingress.http.route_prefix}"
                if graph.graph.spec.ingress.http.graph_page:
                    page = f"{origin}/-/graph/{name}"
            grpc = f"{self.grpc[0]}:{self.grpc[1]}" if self.grpc is not None else None
            found.append({"name": name, "http": http, "grpc": grpc, "page": page})
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

    def _braid(self, *args: str, python: str | None = None) -> list[str]:
        python = python or self.settings.python
        return [python, "-m", "braid", "--log-level", self.settings.log_level, *args]

    async def _prepare_environments(self) -> None:
        """The interpreter of every node (or group) with a ``local`` environment; building a
        virtualenv for requirements the first time (cached after)."""
        for graph in self.settings.graphs:
            for unit in hosts(graph.graph):
                local = unit.node.local
                if local is None:
                    continue
                if local.requirements:
                    logger.info(
                        "node %s: preparing its environment (%s)",
                        unit.name,
                        " ".join(local.requirements),
                    )
                self._pythons[(graph.path, unit.name)] = await asyncio.to_thread(
                    interpreter_of,
                    unit.name,
                    local,
                    manifest_dir=graph.path.parent,
                    base_python=self.settings.python,
                )

    def _shared_memory(self, *, peers: bool = True) -> list[str]:
        """Every process of the run shares one folder in /dev/shm (all on this host)."""
        if self._shared is None:
            return []
        args = ["--shared-memory-dir", self._shared.name]
        if self.settings.shared_memory_bytes is not None:
            args += ["--shared-memory-bytes", str(self.settings.shared_memory_bytes)]
        return [*args, "--shared-memory-peers"] if peers else args

    def _local_calls(self) -> list[str]:
        """Unix sockets for unary calls between the run's processes, in the process layout
        (decision 0025); the pod layout keeps gRPC between pods, as in a cluster."""
        if not self.settings.local_calls or self.settings.layout is not Layout.PROCESS:
            return []
        return ["--local-calls-dir", str(self.work_dir / "calls")]

    def _plan_graph(self, graph: GraphFile) -> None:
        for unit in hosts(graph.graph):  # a node, or a co-location group in one process
            key = (graph.graph.metadata.name, unit.name)
            self._unit_replicas[key] = []
            if unit.node.autoscaling is not None:
                scaled = ScaledUnit(
                    graph=key[0],
                    name=unit.name,
                    members=tuple(member.name for member in unit.members),
                    policy=unit.node.autoscaling,
                )
                self._scaled[key] = (scaled, graph, unit)
            for _ in range(replica_count(unit.node)):
                self._plan_replica(graph, unit)

    def _plan_replica(self, graph: GraphFile, unit: Host) -> LocalReplica:
        """Plan one more replica of ``unit`` (not started); it joins the launcher's lists."""
        host, node = self.settings.host, unit.node
        key = (graph.graph.metadata.name, unit.name)
        index = self._next_index.get(key, 0)
        self._next_index[key] = index + 1
        name = f"{graph.graph.metadata.name}/{node.name}#{index}"
        port = self.ports.reserve(host)
        metrics_port = self.ports.reserve(host)
        termination_log = (
            self.work_dir / f"termination-{graph.graph.metadata.name}-{node.name}-{index}"
        )
        args = [
            "sidecar",
            "--reuse-port",
            *("--graph", str(graph.path), "--node", node.name),
            *("--listen", f"{host}:{port}", "--metrics-port", str(metrics_port)),
            *("--peers", str(self.peers_file(graph)), "--code-dir", str(graph.code_dir)),
            *("--drain-timeout", str(self.settings.drain_timeout)),
            *("--termination-log", str(termination_log)),
            *self._shared_memory(),
            *self._local_calls(),
        ]
        servers = len(self.servers)
        python = self._pythons.get((graph.path, node.name))
        if node.server is not None:
            args += ["--http-port", str(self._plan_server(graph, node, name))]
        elif self.settings.layout is Layout.POD:
            address = f"{host}:{port}"
            socket = self._plan_worker(graph, node, name, address, termination_log, python=python)
            args += ["--worker-socket", str(socket)]
            python = None  # the worker runs the node's code; the sidecar stays braid's
        spec = ProcessSpec(
            name=f"replica {name}",
            argv=self._braid(*args, python=python),
            probe=grpc_health_probe(f"{host}:{port}", REPLICA_SERVICE),
            address=f"{host}:{port}",
            port=port,
            labels={
                "graph": str(self.peers_file(graph)),
                "nodes": ",".join(member.name for member in unit.members),
                "metrics": f"{host}:{metrics_port}",
            },
            readiness_period=READINESS_PERIOD_SECONDS,
            liveness=grpc_health_probe(f"{host}:{port}", ""),
        )
        sidecar = self._supervised(spec, self._replica_changed, node.startup_seconds)
        self.replicas.append(sidecar)
        replica = LocalReplica(
            sidecar, self.servers[servers:], f"{host}:{metrics_port}", termination_log
        )
        self._unit_replicas[key].append(replica)
        return replica

    # -- autoscaling (the LocalAutoscaler's ScalingTarget) -------------------------------------

    def scaled_units(self) -> list[ScaledUnit]:
        units = []
        for key, (unit, _, _) in self._scaled.items():
            replicas = self._unit_replicas[key]
            unit.replicas = len(replicas)
            unit.ready_metrics = [r.metrics for r in replicas if r.sidecar.ready]
            units.append(unit)
        return units

    def metrics_addresses(self) -> list[str]:
        found = [r.metrics for replicas in self._unit_replicas.values() for r in replicas]
        if self.metrics_port is not None:
            found.append(f"{self.settings.host}:{self.metrics_port}")
        return found

    async def scale(self, unit: ScaledUnit, replicas: int) -> None:
        """Start replicas of ``unit`` (in the background) or drain some, to run ``replicas``."""
        key = (unit.graph, unit.name)
        _, graph, host = self._scaled[key]
        running = self._unit_replicas[key]
        while len(running) < replicas:
            replica = self._plan_replica(graph, host)
            self._background(self._start_replica(key, replica))
        if len(running) > replicas:
            # The ones still starting first, then the newest.
            ordered = sorted(running, key=lambda r: (r.sidecar.ready, running.index(r)))
            for replica in ordered[: len(running) - replicas]:
                self._forget(key, replica)
                self._background(self._drain(replica))
        self._write_status()

    def _background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._scaling_tasks.add(task)
        task.add_done_callback(self._scaling_tasks.discard)

    async def _start_replica(self, key: tuple[str, str], replica: LocalReplica) -> None:
        processes = [*replica.companions, replica.sidecar]
        try:
            for process in processes:
                await process.start()
            await asyncio.gather(*(p.wait_ready(p.startup_timeout) for p in processes))
        except LaunchError as exc:
            self._forget(key, replica)
            grace = self.settings.drain_timeout + self.settings.grace
            await asyncio.gather(*(p.stop(grace) for p in processes))
            self._wake_failed(key, replica, str(exc))
            return
        for process in processes:
            process.supervise()
        self._write_status()

    def _wake_failed(self, key: tuple[str, str], replica: LocalReplica, launch: str) -> None:
        """Log why a new replica did not start, and tell the callers holding requests for it."""
        unit, graph, _ = self._scaled[key]
        try:
            reason = replica.termination_log.read_text().strip()
        except OSError:
            reason = ""
        prefix = f'node "{unit.name}": '
        detail = reason.removeprefix(prefix) if reason else launch
        message = f'no replica of node "{unit.name}" could start: {detail}'
        logger.error("autoscaling: %s", message)
        failures = self._failures.setdefault(self.peers_file(graph), {})
        for member in unit.members:
            failures[member] = (message, time.time() + WAKE_FAILURE_SECONDS)
        self._write_peers(self.peers_file(graph))

    def _forget(self, key: tuple[str, str], replica: LocalReplica) -> None:
        with contextlib.suppress(ValueError):
            self._unit_replicas[key].remove(replica)
        for process in (replica.sidecar, *replica.companions):
            with contextlib.suppress(ValueError):
                self.replicas.remove(process)
            with contextlib.suppress(ValueError):
                self.servers.remove(process)

    async def _drain(self, replica: LocalReplica) -> None:
        """Take a replica out of the peers file, give callers time to notice, then stop it:
        SIGTERM makes it finish the calls it has (no request is lost)."""
        self._draining.append(replica)  # stop() stops it, should this be cancelled
        await replica.sidecar.withdraw()
        await asyncio.sleep(WITHDRAW_NOTICE_SECONDS)
        grace = self.settings.drain_timeout + self.settings.grace
        await replica.sidecar.stop(grace)
        await asyncio.gather(*(p.stop(grace) for p in replica.companions))
        self._draining.remove(replica)
        self._write_status()

    def _plan_worker(
        self,
        graph: GraphFile,
        node: Node,
        name: str,
        sidecar: str,
        termination_log: Path,
        *,
        python: str | None,
    ) -> Path:
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
            *("--termination-log", str(termination_log)),
            *self._shared_memory(),
        ]
        liveness = grpc_health_probe(f"{host}:{health}", "")
        spec = ProcessSpec(
            name=f"worker {name}",
            argv=self._braid(*args, python=python),
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

    def _entry_host(self) -> Host | None:
        """The host whose extra replica the ingress runs (``entry_in_ingress``), or None;
        :class:`LaunchError` when the option cannot apply to these graphs."""
        if not self.settings.entry_in_ingress:
            return None
        if self.settings.layout is not Layout.PROCESS:
            raise LaunchError(
                "--entry-in-ingress needs the process layout: in the pod layout, as in a "
                "cluster, the ingress runs no user code"
            )
        if len(self.settings.graphs) != 1:
            raise LaunchError("--entry-in-ingress serves one graph; give braid run one manifest")
        graph = self.settings.graphs[0]
        host = entry_host(graph.graph)
        if host is None:
            raise LaunchError(
                "--entry-in-ingress: the flow calls no node (its output is its input)"
            )
        refusal = entry_refusal(graph.graph, host)
        if refusal is None and (graph.path, host.name) in self._pythons:
            refusal = f'"{host.name}" has a local environment of its own (another interpreter)'
        if refusal is not None:
            raise LaunchError(f"--entry-in-ingress cannot host the flow's first step: {refusal}")
        return host

    def _ingress_spec(self, entry: Host | None = None) -> ProcessSpec:
        args = ["ingress", "--reuse-port"]
        for graph in self.settings.graphs:
            args += ["--graph", str(graph.path), "--peers", str(self.peers_file(graph))]
            args += ["--code-dir", str(graph.code_dir)]
        if entry is not None:
            graph, host = self.settings.graphs[0], self.settings.host
            args += ["--entry-node", entry.name, "--entry-code-dir", str(graph.code_dir)]
            args += ["--entry-listen", f"{host}:{self.ports.reserve(host)}"]
        args += ["--http", _address(self.http), "--grpc", _address(self.grpc)]
        self.metrics_port = self.ports.reserve(self.settings.host)
        args += ["--metrics-port", str(self.metrics_port)]
        args += ["--drain-timeout", str(self.settings.drain_timeout)]
        args += self._shared_memory(peers=False)
        args += self._local_calls()
        for name, address in self.settings.graph_addresses:
            args += ["--graph-address", f"{name}={address}"]
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
            if ready:  # the node serves again: no more failure to report
                self._failures.get(peers_file, {}).pop(node, None)
        metrics = self._metrics.setdefault(peers_file, {})
        if ready and spec.address is not None:
            metrics[spec.address] = spec.labels["metrics"]
        elif spec.address is not None:
            metrics.pop(spec.address, None)
        self._write_peers(peers_file)

    def _write_peers(self, peers_file: Path) -> None:
        failures = self._failures.get(peers_file, {})
        now = time.time()
        for node in [n for n, (_, until) in failures.items() if until <= now]:
            del failures[node]
        metrics = self._metrics.get(peers_file)
        write_peers_file(peers_file, self._peers[peers_file], failures, metrics)

    def _write_status(self) -> None:
        path = self.settings.status_file
        if path is None:
            return
        status = {
            "graphs": self.endpoints(),
            "http": _address(self.http),
            "grpc": _address(self.grpc),
            "metrics": f"http://{self.settings.host}:{self.metrics_port}/metrics",
            "shared_memory": self._shared.name if self._shared is not None else None,
            "pids": self.pids(),
            "processes": [
                {
                    "name": p.spec.name,
                    "pid": p.pid,
                    **({"address": a} if (a := p.spec.address) else {}),
                }
                for p in self._all()
            ],
            "autoscaling": {
                f"{unit.graph}/{unit.name}": {
                    "replicas": len(self._unit_replicas[key]),
                    "ready": sum(r.sidecar.ready for r in self._unit_replicas[key]),
                    "reason": unit.reason,
                }
                for key, (unit, _, _) in self._scaled.items()
            },
        }
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(status, indent=2))
        temporary.replace(path)


def _address(address: tuple[str, int] | None) -> str:
    return "off" if address is None else f"{address[0]}:{address[1]}"
