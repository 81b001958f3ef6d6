"""Requests held for nodes with no ready replica: each node's buffer, and the gauge that tells.

Every caller (the ingress and each sidecar) holds a call to a node with no ready replica in a
bounded buffer (:class:`~braid.runtime._wire.routing.Buffer`) while one starts. A node that may
scale to zero (``autoscaling.minReplicas: 0``, braid's own autoscaler) holds calls until their
deadline; any other node for :data:`~braid.runtime._wire.routing.REPLICA_WAIT_SECONDS` (a
restart). The gauge ``braid_held_requests{graph, node}`` exports what every router of the
process holds: the autoscaler reads it to wake a node at zero (held requests count as ongoing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from braid.runtime._wire.routing import REPLICA_WAIT_SECONDS, Buffer, Router
from braid.spec import AutoscalingMode, DeploymentGraph, hosts

#: The gauge's name; the local autoscaler and the operator read it from the metrics port.
HELD_METRIC = "braid_held_requests"


def buffers_of(graph: DeploymentGraph) -> dict[str, Buffer]:
    """Per node of ``graph``: how its callers hold requests while it has no ready replica."""
    buffers: dict[str, Buffer] = {}
    for unit in hosts(graph):
        scaling = unit.node.autoscaling
        if scaling is None:
            continue
        to_zero = scaling.min_replicas == 0 and scaling.mode is AutoscalingMode.BUILTIN
        buffer = Buffer(
            limit=scaling.max_buffered_requests,
            wait_seconds=None if to_zero else REPLICA_WAIT_SECONDS,
        )
        for member in unit.members:
            buffers[member.name] = buffer
    return buffers


class HeldCollector(Collector):
    """``braid_held_requests{graph, node}``: requests the process's routers hold right now."""

    def __init__(self, routers: Callable[[], Iterable[tuple[str, Router]]]) -> None:
        self._routers = routers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            HELD_METRIC,
            "Requests held for a node with no ready replica, waiting for one to start.",
            labels=("graph", "node"),
        )
        for graph, router in self._routers():
            for node, count in sorted(router.held().items()):
                family.add_metric((graph, node), count)
        yield family
