"""The entry replica in the ingress: ``braid run --entry-in-ingress`` (decision 0024).

A request to a chain pays one gRPC hop more than the floor's relay: client -> ingress -> first
step's replica. With this option the ingress process also hosts one replica of the flow's
*entry host* (the node, or co-location group, of the first step the ingress sends), and the
flow runner calls it in process: a coroutine call, no gRPC and no serialization. The replica
still serves gRPC on an address of its own (``--entry-listen``), so that consumers fetch its
stored results and handles call it as they would any replica; it is not in the peers file, so
other callers never pick it.

The trade-off (user code in the ingress process):

- a node that raises, returns what braid cannot send, or outlives the deadline fails its request
  exactly as in a replica process, with the node and step named;
- sync code that wedges every thread makes this replica step aside: the runner sends the calls
  to the node's ordinary replicas, which ``braid run`` still starts;
- code that fails to construct here is logged and the ingress serves without it;
- but async code that blocks the event loop, or code that crashes the interpreter, takes the
  ingress with it (``braid run`` restarts the ingress as it restarts any process). That is why
  this is opt-in, local mode only, and never the pod layout or a cluster.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from braid.runtime._flow.planning import plan_dispatch, plan_flow
from braid.runtime._proto.braid_pb2 import CallReply, CallRequest
from braid.runtime._replica.executors import LocalExecutor
from braid.runtime._replica.hosting import ReplicaHost, ReplicaSettings
from braid.runtime._replica.worker_socket import WorkerUnreachable
from braid.runtime._wire.errors import ReplicaUnavailable, RequestError
from braid.spec import DeploymentGraph, Host, host_of, load_graph

if TYPE_CHECKING:
    from braid.runtime._ingress.serving import Ingress

logger = logging.getLogger(__name__)


def entry_host(graph: DeploymentGraph) -> Host | None:
    """The host (node or co-location group) of the first step the ingress sends for
    ``graph``, or None when the flow calls no node (its output is its input)."""
    plan = plan_flow(graph)
    for name in plan_dispatch(plan, output_unary=True).roots:
        for call in plan.step(name).calls():  # a dispatch step: its first case's node
            group = graph.group_of(call.node)
            return host_of(graph, group.name if group is not None else call.node)
    return None


def entry_refusal(graph: DeploymentGraph, host: Host) -> str | None:
    """Why ``host`` cannot run in the ingress process, or None when it can."""
    for member in host.members:
        if member.class_ is None:
            return f'node "{member.name}" is not Python code of its own (an http or inference node)'
    if host.node.local is not None:
        return f'"{host.name}" has a local environment of its own (another interpreter)'
    return None


class InProcessReplica:
    """:class:`~braid.runtime._wire.client.LocalReplica` over a :class:`ReplicaHost` that
    runs in this process."""

    def __init__(self, host: ReplicaHost, address: str) -> None:
        self._host = host
        self.address = address

    def hosts(self, node: str) -> bool:
        service = self._host.services.get(node)
        if service is None or service.executor is None or service.refusal is not None:
            return False
        executor = service.executor
        # Every sync thread stuck: step aside at once, not at the watcher's next look.
        if isinstance(executor, LocalExecutor) and executor.threads.wedged:
            return False
        return not self._host.wedged and not self._host.stopping

    async def call(self, request: CallRequest, deadline: float | None) -> CallReply:
        service = self._host.services.get(request.node)
        if service is None:  # the flow only sends it the nodes it hosts
            raise RequestError(
                f'the ingress hosts node(s) {", ".join(self._host.services)}, not "{request.node}"',
                node=request.node,
                step=request.step,
            )
        try:
            return await service.run_call(request, deadline)
        except WorkerUnreachable as error:  # not in the process layout; kept honest anyway
            raise ReplicaUnavailable(error.message, node=request.node, step=request.step) from None
        finally:
            if self._host.shared is not None:  # whatever the code did not read, nobody will
                self._host.shared.release_message(request)


class EntryReplica:
    """The ingress's companion that hosts the entry replica (see the module docstring)."""

    def __init__(self, settings: ReplicaSettings) -> None:
        self.settings = settings
        self._host: ReplicaHost | None = None

    async def start(self, ingress: Ingress) -> None:
        settings = self.settings
        graph = load_graph(settings.graph_file)
        host = ReplicaHost(settings, graph)
        try:
            await host.start()
        except Exception as exc:  # bad code stays out of the ingress: serve without it
            logger.warning(
                'the ingress serves without its entry replica of "%s": %s: %s',
                settings.node,
                type(exc).__name__,
                exc,
            )
            with contextlib.suppress(Exception):
                await host.stop()
            return
        self._host = host
        local = InProcessReplica(host, settings.advertise or settings.listen)
        for route in ingress.routes.routes:
            if route.name == graph.metadata.name:
                route.runner.client.host_locally(local)
        logger.info(
            'the ingress hosts a replica of "%s" in process (listening on %s)',
            settings.node,
            local.address,
        )

    async def stop(self) -> None:
        if self._host is not None:
            await self._host.stop()
