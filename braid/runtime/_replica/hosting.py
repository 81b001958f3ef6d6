"""Hosting a replica: the sidecar process (and the worker process of the two-container layout).

:func:`serve_replica` assembles one replica from :class:`ReplicaSettings`: discovery, router
and channels, the result store, the gRPC server with ``braid.v1.Replica``, gRPC health and
Prometheus metrics, and an executor:

- in process (local mode, and the default): the sidecar imports and constructs the node's code
  itself; one process, no extra hop;
- ``worker_socket``: the node's code runs in a ``braid worker`` process (the model container)
  that serves the same API on a Unix socket; the sidecar forwards resolved calls to it;
- ``http_port``: the node is an HTTP model server on that port.

Health: the sidecar answers as soon as it starts; the service ``braid.v1.Replica`` turns
SERVING only once the user's class has been constructed (readiness), and NOT_SERVING on SIGTERM,
after which the replica waits ``drain_seconds`` for peers to notice, stops accepting calls, and
lets those in flight finish for at most ``drain_timeout`` seconds. A sidecar with a worker also
follows its worker: while the worker is dead, hung or stopped, the replica is NOT_SERVING and
refuses calls up front so that callers use another replica. The graph file is watched, and a
changed ``userConfig`` reaches ``reconfigure()`` without a restart.

A worker loads the node's code before it serves its socket, so a class that cannot load ends
the process with one line naming the cause; its optional TCP health port (the model container's
liveness probe) answers from the start, so that a model that loads for minutes is not killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from braid.runtime._discovery.endpointslices import ClusterAccess, KubernetesDiscovery
from braid.runtime._discovery.peers import Discovery, StaticDiscovery
from braid.runtime._proto import braid_pb2_grpc
from braid.runtime._replica.code import construct, import_target, with_progress
from braid.runtime._replica.colocation import Colocation, GroupService
from braid.runtime._replica.executors import Executor, HttpExecutor, LocalExecutor
from braid.runtime._replica.handles import Handle
from braid.runtime._replica.inference_executor import InferenceExecutor
from braid.runtime._replica.metrics import SidecarMetrics, metrics_host, serve_metrics
from braid.runtime._replica.outbound import OutboundCaller
from braid.runtime._replica.result_store import ResultStore
from braid.runtime._replica.sidecar import Admission, ReplicaService
from braid.runtime._replica.sync_threads import watch_stuck
from braid.runtime._replica.worker_socket import (
    WATCH_TIMEOUT_SECONDS,
    WORKER_KEY_PREFIX,
    SocketExecutor,
)
from braid.runtime._wire.client import REPLICA_SERVICE, ChannelPool, ReplicaClient, server_options
from braid.runtime._wire.heap import settle_heap
from braid.runtime._wire.holding import HeldCollector, buffers_of
from braid.runtime._wire.local_calls import LocalCallClient, LocalCallServer, socket_path
from braid.runtime._wire.routing import Router
from braid.runtime._wire.shared_memory import SharedMemory, SharedMemorySettings
from braid.spec import (
    DRAIN_TIMEOUT_SECONDS,
    DeploymentGraph,
    Host,
    Node,
    SpecError,
    host_of,
    hosts,
    load_graph,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplicaSettings:
    """Everything one replica process needs (filled in by the CLI from flags and env)."""

    graph_file: Path
    node: str
    listen: str
    advertise: str | None = None
    metrics_port: int | None = None
    peers_file: Path | None = None
    cluster: ClusterAccess | None = None
    code_dir: Path | None = None
    worker_socket: Path | None = None
    http_port: int | None = None
    is_worker: bool = False
    #: A worker's plain gRPC health endpoint (``host:port``), for a liveness probe.
    health_listen: str | None = None
    drain_seconds: float = 2.0
    #: Then calls in flight may take this long to finish before the replica stops.
    drain_timeout: float = DRAIN_TIMEOUT_SECONDS
    config_poll_seconds: float = 1.0
    max_result_bytes: int = 2 * 1024**3
    result_ttl_seconds: float = 120.0
    sync_threads: int = 16
    reuse_port: bool = False
    #: A folder on a memory-backed file system for large values (decision 0012): shared with
    #: the worker (a pod's emptyDir with medium Memory), and with every peer when
    #: ``shared_memory_peers`` (braid run: all processes on one host).
    shared_memory: SharedMemorySettings | None = None
    shared_memory_peers: bool = False
    #: A folder where this replica also serves unary calls on a Unix socket, and where it finds
    #: its peers' sockets (braid run: every process on one host; decision 0025).
    local_calls_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def make_discovery(settings: ReplicaSettings, graph: str) -> Discovery:
    """Static discovery from a peers file (local mode), or the cluster's EndpointSlices."""
    if settings.cluster is not None:
        return KubernetesDiscovery(settings.cluster, graph)
    return StaticDiscovery(peers_file=settings.peers_file)


class ReplicaHost:
    """One replica: its server, its executors, and the tasks that keep them current.

    A replica hosts one node or, for a co-location group (``settings.node`` names the group),
    every member node in this process: one service per member behind a :class:`GroupService`.
    """

    def __init__(self, settings: ReplicaSettings, graph: DeploymentGraph) -> None:
        self.settings, self.graph = settings, graph
        self.host: Host = host_of(graph, settings.node)
        self.node: Node = self.host.node
        self.loop = asyncio.get_running_loop()
        self.discovery = make_discovery(settings, graph.metadata.name)
        self.pool = ChannelPool()
        self.registry = CollectorRegistry()
        self.metrics = SidecarMetrics(self.registry, graph.metadata.name, self.node.name)
        self.shared = (
            SharedMemory(
                settings.shared_memory, on_fallback=self.metrics.shared_memory_fallbacks.inc
            )
            if settings.shared_memory is not None
            else None
        )
        peers_share = self.shared if settings.shared_memory_peers else None
        router = Router(self.discovery, buffers=buffers_of(graph))
        self.local_calls = (
            LocalCallClient(
                settings.local_calls_dir,
                orphaned=peers_share.release_message if peers_share is not None else None,
            )
            if settings.local_calls_dir is not None and not settings.is_worker
            else None
        )
        self.client = ReplicaClient(
            router, self.pool, shared=peers_share, local_calls=self.local_calls
        )
        self.store = ResultStore(
            max_bytes=settings.max_result_bytes, ttl=settings.result_ttl_seconds, shared=self.shared
        )
        self.registry.register(HeldCollector(lambda: [(graph.metadata.name, router)]))
        self.services = {member.name: self._service(member) for member in self.host.members}
        if self.host.group is not None:
            address = settings.advertise or settings.listen
            colocation = Colocation(self.services, address)
            for service in self.services.values():
                service.colocation = colocation
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server(options=server_options(reuse_port=settings.reuse_port))
        servicer = (
            GroupService(self.host.name, self.services)
            if self.host.group is not None
            else self.services[self.node.name]
        )
        braid_pb2_grpc.add_ReplicaServicer_to_server(servicer, self.server)  # type: ignore[no-untyped-call]
        self.local_server = (
            LocalCallServer(
                socket_path(settings.local_calls_dir, settings.advertise or settings.listen),
                servicer.answer,
                undelivered=self.shared.release_message if self.shared is not None else None,
            )
            if self.local_calls is not None and settings.local_calls_dir is not None
            else None
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.user_config: dict[str, Any] = {m.name: m.user_config for m in self.host.members}
        self._tasks: list[asyncio.Task[None]] = []
        self._health_server: grpc.aio.Server | None = None
        self._started = False
        self._stopping = False
        #: Every thread of its sync code is stuck past its deadline (not live, not ready).
        self.wedged = False
        #: Per member, fields changed in the graph file that need a restart (already logged).
        self._unapplied: dict[str, list[str]] = {}

    def _service(self, member: Node) -> ReplicaService:
        worker = self.settings.is_worker
        limit = 1_000_000 if worker else member.max_ongoing_requests
        queued = 0 if worker else member.max_queued_requests
        return ReplicaService(
            graph=self.graph.metadata.name,
            node=member.name,
            client=self.client,
            store=self.store,
            admission=Admission(limit, queued),
            metrics=self.metrics,
            loop=self.loop,
            shared=self.shared,
            # A worker's only caller is its sidecar; braid run's processes are all on one host.
            share_results=worker or self.settings.shared_memory_peers,
            address=self.settings.advertise or self.settings.listen,
        )

    async def start(self) -> None:
        settings = self.settings
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(REPLICA_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        if settings.health_listen:
            options = server_options(reuse_port=settings.reuse_port)
            self._health_server = grpc.aio.server(options=options)
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
            _listen(self._health_server, settings.health_listen)
            await self._health_server.start()
        if not settings.is_worker:  # a sidecar answers health while its code loads
            await self._serve()
        if settings.metrics_port:
            host, reuse = metrics_host(settings.listen), settings.reuse_port
            serve_metrics(host, settings.metrics_port, self.registry, reuse_port=reuse)
        await self.discovery.start()
        executors = {m.name: await self._build_executor(m) for m in self.host.members}
        for name, executor in executors.items():
            if self.user_config[name] is not None:
                await executor.reconfigure(self.user_config[name])
        if settings.is_worker:  # a worker serves its socket once its code has loaded
            await self._serve()
        for name, executor in executors.items():
            self.services[name].executor = executor
        settle_heap()  # the code is constructed: what lives now lives as long as the replica
        await self.health.set(REPLICA_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        logger.info('node "%s" is ready', self.node.name)
        self._tasks += [
            asyncio.create_task(self._expire_results()),
            asyncio.create_task(self._watch_config()),
        ]
        for name, executor in executors.items():
            if isinstance(executor, SocketExecutor):
                self.services[name].worker_fetch = executor.fetch
            if isinstance(executor, LocalExecutor):  # sync code that outlives its deadline
                stuck = self.metrics.stuck.labels(self.graph.metadata.name, name)
                watching = watch_stuck(executor.threads, stuck, self._wedged, node=name)
                self._tasks.append(asyncio.create_task(watching))
        first = executors[self.host.members[0].name]
        if isinstance(first, SocketExecutor):  # one worker process hosts every member
            self._tasks.append(asyncio.create_task(first.watch(self._worker_changed)))

    async def _serve(self) -> None:
        _listen(self.server, self.settings.listen)
        await self.server.start()
        if self.local_server is not None:
            await self.local_server.start()
        self._started = True
        logger.info('replica of node "%s" listening on %s', self.node.name, self.settings.listen)

    async def _worker_changed(self, up: bool) -> None:
        """Follow the worker: out of service while it is down, back once it answers."""
        status = health_pb2.HealthCheckResponse
        if self._stopping:  # both containers stop together; nothing to report
            return
        if up:
            self._refuse(None)
            await self.health.set(REPLICA_SERVICE, status.SERVING)
            logger.warning('node "%s": the worker answers again; serving', self.node.name)
            return
        self._refuse(
            f'the worker of node "{self.node.name}" is not answering (dead, hung or restarting); '
            "try another replica"
        )
        await self.health.set(REPLICA_SERVICE, status.NOT_SERVING)
        logger.warning(
            'node "%s": lost the worker (no answer within %.0f s); not serving until it is back',
            self.node.name,
            WATCH_TIMEOUT_SECONDS,
        )

    def _refuse(self, reason: str | None) -> None:
        for service in self.services.values():
            service.refusal = reason

    async def _wedged(self, wedged: bool) -> None:
        """All threads stuck: not ready and not live, so the launcher or kubelet restarts it."""
        self.wedged = wedged
        status = health_pb2.HealthCheckResponse
        for service in ("", REPLICA_SERVICE):
            await self.health.set(service, status.NOT_SERVING if wedged else status.SERVING)

    async def _build_executor(self, node: Node) -> Executor:
        settings = self.settings
        if node.http is not None:
            port = settings.http_port or node.http.port
            return HttpExecutor(node.name, port, {m.name: m.path for m in node.http.methods})
        if node.inference is not None:  # --http-port is the model server's port here too
            port = settings.http_port or node.inference.port
            return InferenceExecutor(node.name, node.inference, port)
        if settings.worker_socket is not None and not settings.is_worker:
            executor = SocketExecutor(node.name, settings.worker_socket, shared=self.shared)
            await executor.wait_ready()
            return executor
        # A worker is reached through its sidecar, whose address it is given as --advertise.
        caller = OutboundCaller(
            caller=node.name,
            graph=self.graph.metadata.name,
            client=self.client,
            store=self.store,
            advertised_address=settings.advertise
            if settings.is_worker
            else (settings.advertise or settings.listen),
            loop=self.loop,
            key_prefix=WORKER_KEY_PREFIX if settings.is_worker else "handle/",
        )
        target = import_target(node.class_ or "", node=node.name, code_dir=settings.code_dir)
        handles = {name: Handle(caller, name) for name in node.handles}
        # Constructors load models: run them in a thread so that health checks still answer.
        constructing = asyncio.to_thread(construct, node, target, handles)
        instance = await with_progress(constructing, node=node.name)
        index = [n.name for n in self.graph.spec.nodes].index(node.name)
        return LocalExecutor(
            node.name,
            instance,
            threads=settings.sync_threads,
            methods=node.methods,
            multiplexing=node.multiplexing,
            path=f"spec.nodes[{index}]",
        )

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def stop(self) -> None:
        self._stopping = True
        if not self.settings.is_worker:  # a worker serves its sidecar's drain to the end
            await self.health.set(REPLICA_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self._started:
            await asyncio.sleep(self.settings.drain_seconds)  # let peers see NOT_SERVING
        for task in self._tasks:
            task.cancel()
        grace = max(self.settings.drain_timeout, 1.0) if self._started else 0
        if self.local_server is not None:
            await asyncio.gather(self.server.stop(grace=grace), self.local_server.stop(grace))
        else:
            await self.server.stop(grace=grace)
        if self._health_server is not None:
            await self._health_server.stop(grace=0)
        for service in self.services.values():
            if service.executor is not None:
                await service.executor.close()
        await self.discovery.close()
        await self.pool.close()
        if self.local_calls is not None:
            await self.local_calls.close()
        if self.shared is not None:
            self.shared.close()

    async def _expire_results(self) -> None:
        while True:
            await asyncio.sleep(5)
            self.store.expire()
            self.metrics.store_bytes.set(self.store.bytes_held)
            self.metrics.store_entries.set(len(self.store))

    async def _watch_config(self) -> None:
        path = self.settings.graph_file
        seen = _mtime(path)
        while True:
            await asyncio.sleep(self.settings.config_poll_seconds)
            current = _mtime(path)
            if current == seen:
                continue
            seen = current
            try:
                graph = load_graph(path)
                members = [graph.node(member.name) for member in self.host.members]
            except (SpecError, KeyError) as exc:
                logger.warning("ignoring an unusable update of %s: %s", path, exc)
                continue
            for node in members:
                self._note_restart_needed(node, path)
                await self._reconfigure(node)

    async def _reconfigure(self, node: Node) -> None:
        executor = self.services[node.name].executor
        if node.user_config == self.user_config[node.name] or executor is None:
            return
        self.user_config[node.name] = node.user_config
        try:
            await executor.reconfigure(node.user_config)
            logger.info('node "%s" reconfigured with a new userConfig', node.name)
        except Exception as exc:
            logger.error('node "%s": reconfigure() failed: %s', node.name, exc)

    def _note_restart_needed(self, node: Node, path: Path) -> None:
        """Say so when the graph file changes more of this node than ``userConfig``: only that
        reaches a running replica; anything else (``init``, ``class``...) needs a restart."""
        running = next(member for member in self.host.members if member.name == node.name)
        fields = [
            field.alias or name
            for name, field in type(node).model_fields.items()
            if name != "user_config" and getattr(node, name) != getattr(running, name)
        ]
        if fields and fields != self._unapplied.get(node.name):
            logger.warning(
                'node "%s": %s changed in %s; restart the replica to apply it (only userConfig '
                "reaches a running replica)",
                node.name,
                ", ".join(fields),
                path,
            )
        self._unapplied[node.name] = fields


def _listen(server: grpc.aio.Server, address: str) -> None:
    try:
        server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address}: the address is in use or invalid") from exc


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


async def serve_replica(settings: ReplicaSettings) -> None:
    """Run one replica until SIGTERM or SIGINT, then drain and stop."""
    graph = load_graph(settings.graph_file)
    try:
        host_of(graph, settings.node)
    except KeyError:
        names = ", ".join(host.name for host in hosts(graph))
        member = graph.group_of(settings.node)
        hint = f'; node "{settings.node}" runs in group "{member.name}"' if member else ""
        raise SpecError(
            f'graph "{graph.metadata.name}" has no node or group "{settings.node}" to host '
            f"(it has {names}){hint}"
        ) from None
    host = ReplicaHost(settings, graph)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    starting = asyncio.create_task(host.start())
    stop_wait = asyncio.create_task(stopping.wait())
    done, _ = await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if starting in done:
        if starting.exception() is not None:
            # Bad code or a busy port: stop what did start, then let the CLI say why.
            stop_wait.cancel()
            await host.stop()
            starting.result()
        await stop_wait
    else:
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
    logger.info('replica of node "%s" stopping', settings.node)
    await host.stop()
