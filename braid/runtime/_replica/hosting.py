"""Hosting a replica: the sidecar process (and the worker process of the two-container layout).

:func:`serve_replica` assembles one replica from :class:`ReplicaSettings`: discovery, router
and channels, the result store, the gRPC server with ``braid.v1.Replica``, gRPC health and
Prometheus metrics, and an executor:

- in process (local mode, and the default): the sidecar imports and constructs the node's code
  itself; one process, no extra hop;
- ``worker_socket``: the node's code runs in a ``braid worker`` process (the model container)
  that serves the same API on a Unix socket; the sidecar forwards resolved calls to it;
- ``http_port``: the node is an HTTP model server on that port.

Health: the server answers as soon as it starts; the service ``braid.v1.Replica`` turns SERVING
only once the user's class has been constructed (readiness), and NOT_SERVING on SIGTERM, after
which the replica waits ``drain_seconds`` for peers to notice, stops accepting calls, and lets
those in flight finish for at most ``drain_timeout`` seconds. The graph file is watched, and a
changed ``userConfig`` reaches ``reconfigure()`` without a restart.
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
from prometheus_client import CollectorRegistry, start_http_server

from braid.runtime._discovery.endpointslices import ClusterAccess, KubernetesDiscovery
from braid.runtime._discovery.peers import Discovery, StaticDiscovery
from braid.runtime._proto import braid_pb2_grpc
from braid.runtime._replica.code import construct, import_target
from braid.runtime._replica.executors import Executor, HttpExecutor, LocalExecutor
from braid.runtime._replica.handles import Handle
from braid.runtime._replica.metrics import SidecarMetrics
from braid.runtime._replica.outbound import OutboundCaller
from braid.runtime._replica.result_store import ResultStore
from braid.runtime._replica.sidecar import Admission, ReplicaService
from braid.runtime._replica.worker_socket import SocketExecutor
from braid.runtime._wire.client import REPLICA_SERVICE, SERVER_OPTIONS, ChannelPool, ReplicaClient
from braid.runtime._wire.routing import Router
from braid.spec import DRAIN_TIMEOUT_SECONDS, DeploymentGraph, Node, SpecError, load_graph

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
    drain_seconds: float = 2.0
    #: Then calls in flight may take this long to finish before the replica stops.
    drain_timeout: float = DRAIN_TIMEOUT_SECONDS
    config_poll_seconds: float = 1.0
    max_result_bytes: int = 2 * 1024**3
    result_ttl_seconds: float = 120.0
    sync_threads: int = 16
    extra: dict[str, Any] = field(default_factory=dict)


def make_discovery(settings: ReplicaSettings, graph: str) -> Discovery:
    """Static discovery from a peers file (local mode), or the cluster's EndpointSlices."""
    if settings.cluster is not None:
        return KubernetesDiscovery(settings.cluster, graph)
    return StaticDiscovery(peers_file=settings.peers_file)


class ReplicaHost:
    """One replica: its server, its executor, and the tasks that keep it current."""

    def __init__(self, settings: ReplicaSettings, graph: DeploymentGraph) -> None:
        self.settings, self.graph = settings, graph
        self.node: Node = graph.node(settings.node)
        self.loop = asyncio.get_running_loop()
        self.discovery = make_discovery(settings, graph.metadata.name)
        self.pool = ChannelPool()
        self.client = ReplicaClient(Router(self.discovery), self.pool)
        self.store = ResultStore(
            max_bytes=settings.max_result_bytes, ttl=settings.result_ttl_seconds
        )
        self.registry = CollectorRegistry()
        self.metrics = SidecarMetrics(self.registry, graph.metadata.name, self.node.name)
        limit = 1_000_000 if settings.is_worker else self.node.max_ongoing_requests
        queued = 0 if settings.is_worker else self.node.max_queued_requests
        self.service = ReplicaService(
            graph=graph.metadata.name,
            node=self.node.name,
            client=self.client,
            store=self.store,
            admission=Admission(limit, queued),
            metrics=self.metrics,
            loop=self.loop,
        )
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server(options=list(SERVER_OPTIONS))
        braid_pb2_grpc.add_ReplicaServicer_to_server(self.service, self.server)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.user_config: Any = self.node.user_config
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        listen = self.settings.listen
        try:
            self.server.add_insecure_port(listen)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {listen}: the address is in use or invalid") from exc
        await self.server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(REPLICA_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.settings.metrics_port:
            start_http_server(self.settings.metrics_port, addr="0.0.0.0", registry=self.registry)  # noqa: S104
        await self.discovery.start()
        logger.info('replica of node "%s" listening on %s', self.node.name, listen)
        executor = await self._build_executor()
        if self.user_config is not None:
            await executor.reconfigure(self.user_config)
        self.service.executor = executor
        await self.health.set(REPLICA_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        logger.info('node "%s" is ready', self.node.name)
        self._tasks += [
            asyncio.create_task(self._expire_results()),
            asyncio.create_task(self._watch_config()),
        ]

    async def _build_executor(self) -> Executor:
        settings, node = self.settings, self.node
        if node.http is not None:
            port = settings.http_port or node.http.port
            return HttpExecutor(node.name, port, {m.name: m.path for m in node.http.methods})
        if settings.worker_socket is not None and not settings.is_worker:
            executor = SocketExecutor(node.name, settings.worker_socket)
            await executor.wait_ready()
            return executor
        caller = OutboundCaller(
            node=node.name,
            graph=self.graph.metadata.name,
            client=self.client,
            store=self.store,
            advertised_address=None
            if settings.is_worker
            else (settings.advertise or settings.listen),
            loop=self.loop,
        )
        target = import_target(node.class_ or "", node=node.name, code_dir=settings.code_dir)
        handles = {name: Handle(caller, name) for name in node.handles}
        # Constructors load models: run them in a thread so that health checks still answer.
        instance = await asyncio.to_thread(construct, node, target, handles)
        return LocalExecutor(node.name, instance, threads=settings.sync_threads)

    async def stop(self) -> None:
        await self.health.set(REPLICA_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        await asyncio.sleep(self.settings.drain_seconds)  # let peers see NOT_SERVING and drain
        for task in self._tasks:
            task.cancel()
        await self.server.stop(grace=max(self.settings.drain_timeout, 1.0))
        if self.service.executor is not None:
            await self.service.executor.close()
        await self.discovery.close()
        await self.pool.close()

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
                node = load_graph(path).node(self.node.name)
            except (SpecError, KeyError) as exc:
                logger.warning("ignoring an unusable update of %s: %s", path, exc)
                continue
            if node.user_config != self.user_config and self.service.executor is not None:
                self.user_config = node.user_config
                try:
                    await self.service.executor.reconfigure(node.user_config)
                    logger.info('node "%s" reconfigured with a new userConfig', self.node.name)
                except Exception as exc:
                    logger.error('node "%s": reconfigure() failed: %s', self.node.name, exc)


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


async def serve_replica(settings: ReplicaSettings) -> None:
    """Run one replica until SIGTERM or SIGINT, then drain and stop."""
    graph = load_graph(settings.graph_file)
    try:
        graph.node(settings.node)
    except KeyError:
        names = ", ".join(node.name for node in graph.spec.nodes)
        raise SpecError(
            f'graph "{graph.metadata.name}" has no node "{settings.node}" (it has {names})'
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
        starting.result()  # raise a start-up failure (bad code, busy port) to the CLI
        await stop_wait
    else:
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
    logger.info('replica of node "%s" stopping', settings.node)
    await host.stop()
