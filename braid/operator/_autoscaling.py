"""The operator's autoscaler: Ray Serve's policy on the load the sidecars report, no add-ons.

Every ``autoscale_seconds``, while this operator is the active peer, for every graph it knows
and every node (or co-location group) with ``autoscaling`` in mode ``builtin``:

1. **Read** the load straight from the graph's pods, on their metrics port (9090, which the
   optional NetworkPolicy leaves open): each ready replica's ``braid_ongoing_requests`` plus
   ``braid_queued_requests``, and the requests that callers (the ingress and every sidecar)
   hold for the node while it has no ready replica (``braid_held_requests``). No Prometheus,
   metrics adapter, KEDA or Knative is involved.
2. **Decide** with :func:`braid.spec.decide_replicas`; the policy's state (since when a change
   is wanted) lives in this process: a new active operator starts its delays afresh.
3. **Act**: a merge patch of the Deployment's ``spec.replicas`` (field manager
   ``braid-autoscaler``) and of its annotation ``braid.dev/scaling-reason``, under the graph's
   reconcile lock, so that a reconcile never writes back a count read before the change. The
   reconcile keeps the count it finds (clamped to the bounds), and the status shows it
   (``desiredReplicas``) with the reason (``scalingReason``). An Event ``Scaled``, a log line
   and the metrics ``braid_operator_autoscaler_*`` tell each change.

kopf timers are not used: they put a finalizer on every graph (see :mod:`._resyncing`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.parser import text_string_to_metric_families

from braid.operator._errors import KubernetesError, ObjectNotFound
from braid.operator._kubernetes import DEPLOYMENTS, GRAPHS, PODS, KubernetesApi
from braid.operator._labels import (
    COMPONENT_LABEL,
    GRAPH_LABEL,
    METRICS_PORT,
    NODE_LABEL,
    SCALING_REASON_ANNOTATION,
    Component,
    node_object_name,
)
from braid.operator._metrics import OperatorMetrics
from braid.operator._settings import OperatorSettings
from braid.spec import (
    AutoscalingMode,
    DeploymentGraph,
    GraphInvalid,
    Host,
    ManifestError,
    ScalingState,
    decide_replicas,
    hosts,
    validate_graph,
)

logger = logging.getLogger(__name__)

#: Reads ``http://<host:port>/metrics``; "" when the pod does not answer.
LoadReader = Callable[[str], Awaitable[str]]
_ONGOING = ("braid_ongoing_requests", "braid_queued_requests")
_HELD = "braid_held_requests"
_READ_TIMEOUT_SECONDS = 2.0


class ScalingEvents(Protocol):
    """Posts the Event of one scaling decision."""

    async def scaled(self, graph: Mapping[str, Any], message: str) -> None: ...


async def read_pod_metrics(address: str) -> str:
    """``GET http://address/metrics`` of a pod; "" when it does not answer 200 in time."""
    import aiohttp  # noqa: PLC0415 - the operator extra, as in _kubernetes

    timeout = aiohttp.ClientTimeout(total=_READ_TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"http://{address}/metrics") as response,
        ):
            return await response.text() if response.status == 200 else ""
    except (aiohttp.ClientError, TimeoutError, OSError):
        return ""


@dataclass(frozen=True)
class PodLoad:
    """One pod's report for one graph: ongoing and held requests per node."""

    ongoing: dict[str, float]
    held: dict[str, float]


def pod_load(text: str, graph: str) -> PodLoad:
    """The ongoing (running + queued) and held requests per node of ``graph`` in ``text``."""
    ongoing: dict[str, float] = {}
    held: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        into = ongoing if family.name in _ONGOING else held if family.name == _HELD else None
        if into is None:
            continue
        for sample in family.samples:
            if sample.labels.get("graph") == graph:
                node = sample.labels.get("node", "")
                into[node] = into.get(node, 0.0) + sample.value
    return PodLoad(ongoing, held)


def ready_address(pod: Mapping[str, Any]) -> str | None:
    status = pod.get("status") or {}
    ip = status.get("podIP")
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if not ip or not ready or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    return f"{ip}:{METRICS_PORT}"


class Autoscaler:
    """The operator's control loop for autoscaled nodes (see the module docstring)."""

    def __init__(
        self,
        api: KubernetesApi,
        settings: OperatorSettings,
        *,
        events: ScalingEvents,
        lock: Callable[[str, str], asyncio.Lock],
        read: LoadReader = read_pod_metrics,
        metrics: OperatorMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api, self._settings, self._events, self._lock = api, settings, events, lock
        self._read, self._clock = read, clock
        self._metrics = metrics or OperatorMetrics()
        self._states: dict[tuple[str, str, str], ScalingState] = {}

    async def scale_graph(self, namespace: str, name: str) -> int:
        """One decision for every autoscaled node of one graph; returns how many changed."""
        try:
            body = await self._api.get(GRAPHS, namespace, name)
        except ObjectNotFound:
            return 0
        try:
            graph = validate_graph({k: v for k, v in body.items() if k != "status"})
        except (GraphInvalid, ManifestError):
            return 0  # the reconcile reports it
        units = [
            unit
            for unit in hosts(graph)
            if unit.node.autoscaling is not None
            and unit.node.autoscaling.mode is AutoscalingMode.BUILTIN
        ]
        if not units:
            return 0
        pods = await self._api.list_objects(PODS, namespace, f"{GRAPH_LABEL}={name}")
        loads = await self._loads(pods, name)
        changed = 0
        for unit in units:
            changed += await self._scale_unit(body, graph, unit, pods=pods, loads=loads)
        return changed

    async def _loads(self, pods: Sequence[Mapping[str, Any]], graph: str) -> dict[str, PodLoad]:
        addresses = sorted({a for pod in pods if (a := ready_address(pod)) is not None})
        texts = await asyncio.gather(*(self._read(a) for a in addresses))
        return {a: pod_load(text, graph) for a, text in zip(addresses, texts, strict=True)}

    async def _scale_unit(
        self,
        body: Mapping[str, Any],
        graph: DeploymentGraph,
        host: Host,
        *,
        pods: Sequence[Mapping[str, Any]],
        loads: Mapping[str, PodLoad],
    ) -> int:
        namespace, name, unit = str(graph.metadata.namespace), graph.metadata.name, host.name
        policy = host.node.autoscaling
        if policy is None:  # pragma: no cover - the caller picked autoscaled units
            return 0
        deployment_name = node_object_name(graph, unit)
        try:
            deployment = await self._api.get(DEPLOYMENTS, namespace, deployment_name)
        except ObjectNotFound:
            return 0  # not rendered yet
        current = (deployment.get("spec") or {}).get("replicas")
        if not isinstance(current, int):
            return 0
        names = [m.name for m in host.members]
        own = [
            address
            for pod in pods
            if (pod.get("metadata") or {}).get("labels", {}).get(NODE_LABEL) == unit
            and (pod.get("metadata") or {}).get("labels", {}).get(COMPONENT_LABEL)
            == Component.NODE.value
            and (address := ready_address(pod)) is not None
        ]
        ongoing = [sum(loads[a].ongoing.get(n, 0.0) for n in names) for a in own if a in loads]
        held = sum(load.held.get(n, 0.0) for load in loads.values() for n in names)
        key = (namespace, name, unit)
        decision = decide_replicas(
            unit,
            policy,
            current=current,
            ongoing=ongoing,
            held=held,
            now=self._clock(),
            state=self._states.get(key, ScalingState()),
        )
        self._states[key] = decision.state
        self._metrics.autoscaler_desired.labels(namespace, name, unit).set(decision.replicas)
        if not decision.changed:
            return 0
        patch = {
            "metadata": {"annotations": {SCALING_REASON_ANNOTATION: decision.reason}},
            "spec": {"replicas": decision.replicas},
        }
        async with self._lock(namespace, name):
            await self._api.patch(DEPLOYMENTS, namespace, deployment_name, patch)
        direction = "up" if decision.replicas > current else "down"
        self._metrics.autoscaler_decisions.labels(namespace, name, unit, direction).inc()
        logger.info("graph %s/%s: %s", namespace, name, decision.reason)
        await self._events.scaled(body, decision.reason)
        return 1


class AutoscalerLoop:
    """Runs :class:`Autoscaler` over the graphs kopf reported while this peer is active."""

    def __init__(
        self,
        autoscaler: Autoscaler,
        graphs: Callable[[], Sequence[tuple[str, str]]],
        active: Callable[[str], Awaitable[bool]],
        interval: float,
    ) -> None:
        self._autoscaler, self._graphs, self._active = autoscaler, graphs, active
        self._interval = interval

    async def run(self) -> None:
        """Forever: one pass, then wait one interval (cancel to stop)."""
        while True:
            await self.tick()
            await asyncio.sleep(self._interval)

    async def tick(self) -> None:
        active: dict[str, bool] = {}
        for namespace, name in self._graphs():
            if namespace not in active:
                active[namespace] = await self._active(namespace)
            if not active[namespace]:
                continue
            try:
                await self._autoscaler.scale_graph(namespace, name)
            except KubernetesError as exc:  # the next tick tries again
                logger.warning("autoscaling graph %s/%s failed: %s", namespace, name, exc)
