"""The ingress: the entry point that serves one or more graphs over HTTP and gRPC.

:class:`Ingress` assembles the parts: per graph a discovery of its replicas, a power-of-two-choices
router and a :class:`~braid.runtime._flow.running.FlowRunner` (sharing one channel pool), a
:class:`~braid.runtime._ingress.routes.RouteTable`, the HTTP server (uvicorn,
:mod:`braid.runtime._ingress.http_listener`, serving
:mod:`braid.runtime._ingress.http_handling`), the gRPC server
(:mod:`braid.runtime._ingress.grpc_service`) and
Prometheus metrics on a port of their own. :func:`serve_ingress` runs it until SIGTERM/SIGINT;
``braid ingress`` and ``braid run`` start it that way. Settings come in
:class:`IngressSettings`, filled in by the CLI.

Stopping drains: readiness turns false at once (gRPC health NOT_SERVING, ``/-/ready`` 503), the
listeners close, and requests in flight finish within ``drain_timeout`` seconds before the
process exits; an idle keep-alive connection is closed, a busy one answers with
``Connection: close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from braid.runtime._discovery.endpointslices import ClusterAccess, KubernetesDiscovery
from braid.runtime._discovery.peers import Discovery, StaticDiscovery
from braid.runtime._flow.planning import plan_flow
from braid.runtime._flow.running import FlowRunner
from braid.runtime._flow.subgraphs import GraphCalls
from braid.runtime._ingress.graph_apps import AppDispatcher, AppGraph, MountedApp, load_app
from braid.runtime._ingress.graph_page import GraphPages
from braid.runtime._ingress.grpc_service import GraphService, GrpcIngress
from braid.runtime._ingress.http_asgi import AsgiAdapter, HttpRequest, Responder
from braid.runtime._ingress.http_handling import HttpIngress
from braid.runtime._ingress.http_listener import HttpListener, TlsFiles
from braid.runtime._ingress.http_protocol import HttpLimits
from braid.runtime._ingress.metrics import IngressMetrics
from braid.runtime._ingress.routes import GraphRoute, IngressConfigError, RouteTable
from braid.runtime._wire.client import ChannelPool, ReplicaClient
from braid.runtime._wire.heap import settle_heap
from braid.runtime._wire.holding import HeldCollector, buffers_of
from braid.runtime._wire.local_calls import LocalCallClient
from braid.runtime._wire.routing import Router
from braid.runtime._wire.shared_memory import SharedMemory, SharedMemorySettings
from braid.spec import DRAIN_TIMEOUT_SECONDS, DeploymentGraph, load_graph

logger = logging.getLogger(__name__)

#: How often readiness (every node has a ready replica) is re-checked for gRPC health.
READY_POLL_SECONDS = 0.25


@dataclass(frozen=True)
class IngressSettings:
    """What ``braid ingress`` serves and where."""

    graph_files: tuple[Path, ...]
    #: One peers file for every graph, or one per graph in the same order (static discovery).
    peers_files: tuple[Path, ...] = ()
    http: tuple[str, int] | None = ("127.0.0.1", 8000)
    grpc: tuple[str, int] | None = ("127.0.0.1", 9000)
    metrics_port: int | None = None
    discovery: str = "static"
    cluster: ClusterAccess | None = None
    limits: HttpLimits = field(default_factory=HttpLimits)
    #: Share the ports with the sockets ``braid run`` reserved them with (SO_REUSEPORT).
    reuse_port: bool = False
    #: On SIGTERM, seconds that requests in flight may take to finish.
    drain_timeout: float = DRAIN_TIMEOUT_SECONDS
    #: Serve HTTPS on the HTTP address with this certificate and key.
    tls: TlsFiles | None = None
    #: Serve the live graph pages at /-/graph (each graph may still turn its own off).
    graph_page: bool = True
    #: In a cluster: the port every replica's sidecar serves its metrics on (for the pages).
    replica_metrics_port: int | None = None
    #: A memory-backed folder that every replica shares with the ingress (braid run, one host):
    #: large inputs and outputs cross it instead of gRPC (decision 0012).
    shared_memory: SharedMemorySettings | None = None
    #: Where each graph's own app (spec.ingress.http.app) is imported from: one folder for
    #: every graph, or one per graph in the order of ``graph_files`` (braid run: the
    #: manifests' folders); none: the Python path only (the ingress image in a cluster).
    code_dirs: tuple[Path, ...] = ()
    #: The gRPC address of the ingress of each graph that a sub-graph step calls and that this
    #: ingress does not serve itself (docs/decisions/0023-sub-graphs.md).
    graph_addresses: Mapping[str, str] = field(default_factory=dict)
    #: Where the replicas serve unary calls on Unix sockets (braid run, one host; decision
    #: 0025): the ingress calls them there instead of over gRPC.
    local_calls_dir: Path | None = None


def build_discovery(settings: IngressSettings, graph: DeploymentGraph, index: int) -> Discovery:
    """The discovery of one graph's replicas: a peers file locally, EndpointSlices in a cluster."""
    if settings.discovery == "kubernetes":
        if settings.cluster is None:
            raise IngressConfigError("kubernetes discovery needs the cluster's address")
        return KubernetesDiscovery(
            settings.cluster, graph.metadata.name, metrics_port=settings.replica_metrics_port
        )
    peers = settings.peers_files
    if not peers:
        raise IngressConfigError("static discovery needs --peers FILE (written by braid run)")
    if len(peers) not in (1, len(settings.graph_files)):
        raise IngressConfigError(
            f"give one --peers file, or one per --graph ({len(settings.graph_files)}), "
            f"not {len(peers)}"
        )
    return StaticDiscovery(peers_file=peers[index] if len(peers) > 1 else peers[0])


class Ingress:
    """Serves graphs over HTTP and gRPC (see the module docstring)."""

    def __init__(
        self,
        graphs: Sequence[tuple[DeploymentGraph, Discovery]],
        *,
        limits: HttpLimits | None = None,
        pool: ChannelPool | None = None,
        metrics: IngressMetrics | None = None,
        reuse_port: bool = False,
        tls: TlsFiles | None = None,
        graph_page: bool = True,
        shared_memory: SharedMemorySettings | None = None,
        code_dirs: Sequence[Path | None] = (),
        graph_calls: GraphCalls | None = None,
        local_calls_dir: Path | None = None,
    ) -> None:
        self.pool = pool or ChannelPool()
        # Sub-graph steps call graphs served here in process, any other through its ingress.
        self.graph_calls = graph_calls or GraphCalls()
        self.metrics = metrics or IngressMetrics()
        self.shared = (
            SharedMemory(shared_memory, on_fallback=self.metrics.shared_memory_fallbacks.inc)
            if shared_memory is not None
            else None
        )
        shared = self.shared
        self.local_calls = (
            LocalCallClient(
                local_calls_dir,
                orphaned=shared.release_message if shared is not None else None,
            )
            if local_calls_dir is not None
            else None
        )
        routes = []
        routers: list[tuple[str, Router]] = []
        for graph, discovery in graphs:
            router = Router(discovery, buffers=buffers_of(graph))
            routers.append((graph.metadata.name, router))
            client = ReplicaClient(
                router, self.pool, shared=self.shared, local_calls=self.local_calls
            )
            runner = FlowRunner(
                plan_flow(graph), client, graphs=self.graph_calls, on_split=self.metrics.split
            )
            route = GraphRoute(graph=graph, runner=runner, discovery=discovery)
            self.graph_calls.serve_locally(route.name, runner, route.deadline)
            routes.append(route)
        self.metrics.registry.register(HeldCollector(lambda: routers))
        self.routes = RouteTable(routes)
        self.pages = GraphPages(self.routes, enabled=graph_page)
        self.http_handler = HttpIngress(self.routes, self.metrics, pages=self.pages)
        app: Any = AsgiAdapter(
            self.http_handler, limits=limits, body_limits=self.http_handler.body_limits
        )
        self.apps = apps = self._graph_apps(code_dirs)
        if apps:  # only then does each request look for a graph's app first
            app = AppDispatcher(self.routes, apps, app)
        self.http = HttpListener(app, limits=limits, reuse_port=reuse_port, tls=tls)
        self.grpc = GrpcIngress(GraphService(self.routes, self.metrics), reuse_port=reuse_port)
        self.metrics_server = HttpListener(AsgiAdapter(self._metrics), reuse_port=reuse_port)
        self._tasks: list[asyncio.Task[None]] = []
        self._started: list[str] = []

    def _graph_apps(self, code_dirs: Sequence[Path | None]) -> dict[str, MountedApp]:
        """Import the graphs' own apps (spec.ingress.http.app), by graph name."""
        apps: dict[str, MountedApp] = {}
        modules: dict[str, str] = {}
        for index, route in enumerate(self.routes.routes):
            path = route.graph.spec.ingress.http.app
            if path is None:
                continue
            module = path.partition(":")[0]
            if module in modules:  # imported once, it would be bound to the first graph only
                raise IngressConfigError(
                    f'graphs "{modules[module]}" and "{route.name}" both take their app from '
                    f'module "{module}"; give each graph\'s app a module of its own'
                )
            modules[module] = route.name
            code_dir = code_dirs[index if len(code_dirs) > 1 else 0] if code_dirs else None
            graph = AppGraph(route, asyncio.get_running_loop())
            apps[route.name] = MountedApp(graph, load_app(graph, code_dir), self.metrics)
        return apps

    @classmethod
    def from_settings(cls, settings: IngressSettings) -> Ingress:
        graphs = [load_graph(path) for path in settings.graph_files]
        pairs = [(graph, build_discovery(settings, graph, i)) for i, graph in enumerate(graphs)]
        if len(settings.code_dirs) not in (0, 1, len(graphs)):
            raise IngressConfigError(
                f"give one --code-dir, or one per --graph ({len(graphs)}), "
                f"not {len(settings.code_dirs)}"
            )
        return cls(
            pairs,
            limits=settings.limits,
            reuse_port=settings.reuse_port,
            tls=settings.tls,
            graph_page=settings.graph_page,
            shared_memory=settings.shared_memory,
            code_dirs=settings.code_dirs,
            graph_calls=GraphCalls(settings.graph_addresses),
            local_calls_dir=settings.local_calls_dir,
        )

    async def start(
        self,
        *,
        http: tuple[str, int] | None,
        grpc: tuple[str, int] | None,
        metrics: tuple[str, int] | None = None,
    ) -> None:
        for route in self.routes.routes:
            await route.discovery.start()
        for app in self.apps.values():
            await app.lifespan.startup()
        if http is not None:
            await self.http.start(*http)
            self._started.append("http")
        if grpc is not None:
            await self.grpc.start(*grpc)
            self._started.append("grpc")
            self._tasks.append(asyncio.create_task(self._watch_ready()))
        if metrics is not None:
            await self.metrics_server.start(*metrics)
            self._started.append("metrics")

    async def close(self, drain_timeout: float = 1.0) -> None:
        """Turn not ready, stop accepting, let requests in flight finish, then stop."""
        self.http_handler.draining = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        draining = []
        if "grpc" in self._started:
            draining.append(self.grpc.close(drain_timeout))
        if "http" in self._started:
            draining.append(self.http.drain(drain_timeout))
        await asyncio.gather(*draining)
        if "http" in self._started:
            await self.http.close()
        for app in self.apps.values():
            await app.lifespan.shutdown(max(drain_timeout, 1.0))
        if "metrics" in self._started:
            await self.metrics_server.close()
        for route in self.routes.routes:
            await route.runner.close()
            await route.discovery.close()
        await self.pool.close()
        if self.local_calls is not None:
            await self.local_calls.close()
        if self.shared is not None:
            self.shared.close()

    async def _watch_ready(self) -> None:
        ready: bool | None = None
        while True:
            now = not self.routes.missing_nodes()
            if now != ready:
                ready = now
                await self.grpc.set_ready(now)
                logger.info("ingress %s", "ready" if now else "not ready: nodes without replicas")
            await asyncio.sleep(READY_POLL_SECONDS)

    async def _metrics(self, request: HttpRequest, responder: Responder) -> None:
        if request.path != "/metrics":
            await responder.send_error(404, "NotFound", "metrics are at /metrics")
            return
        await responder.send(
            200, generate_latest(self.metrics.registry), content_type=CONTENT_TYPE_LATEST
        )


class Companion(Protocol):
    """Something that runs in the ingress's process beside it: started before the ingress
    listens, stopped after it has drained (``braid run --entry-in-ingress``'s entry replica)."""

    async def start(self, ingress: Ingress) -> None: ...

    async def stop(self) -> None: ...


async def serve_ingress(settings: IngressSettings, companion: Companion | None = None) -> None:
    """Run an ingress (and its ``companion``, if any) until SIGTERM or SIGINT."""
    ingress = Ingress.from_settings(settings)
    metrics = None
    if settings.metrics_port is not None:
        host = settings.http[0] if settings.http is not None else "127.0.0.1"
        metrics = (host, settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if companion is not None:
            await companion.start(ingress)
        await ingress.start(http=settings.http, grpc=settings.grpc, metrics=metrics)
        settle_heap()
        where = ", ".join(
            f"{name} {host}:{port}"
            for name, host, port in (
                ("HTTP", *(settings.http or ("", 0))),
                ("gRPC", *(settings.grpc or ("", 0))),
            )
            if host
        )
        logger.info("ingress serving %s on %s", ", ".join(ingress.routes.names()), where)
        await stop.wait()
        logger.info("ingress stopping: draining for at most %.0f s", settings.drain_timeout)
    finally:
        with contextlib.suppress(Exception):
            await ingress.close(settings.drain_timeout)
        if companion is not None:
            with contextlib.suppress(Exception):
                await companion.stop()
