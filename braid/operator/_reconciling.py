"""The reconciler: one level-triggered pass that makes the cluster match one graph.

Create, update, resume and the periodic drift check all call :meth:`Reconciler.reconcile` with
the graph's current body; it never looks at what changed, only at what is:

1. validate the spec (for a graph with sub-graph steps, also against the namespace's other
   graphs: no cycle of graphs calling each other); if it is invalid, write the Invalid
   condition listing every problem and stop, touching no child (and raising nothing, so that
   nothing retries it);
2. read the graph back, and stop if it is gone or being deleted (kopf may hand over the body of
   an event queued before the delete); read its Deployments back (the code a ``version`` pins,
   the replicas an autoscaler chose) and :func:`~braid.operator._rendering.render` the objects;
3. apply each one server-side as field manager ``braid``; an apply is idempotent, so a pass that
   was cut short (an operator restart) is simply done again;
4. prune what carries the graph's labels and owner but is no longer rendered;
5. compute the status from the Deployments and write it if it changed, with an Event per
   condition transition.

:meth:`Reconciler.refresh_status` is step 5 alone, for when a child Deployment changes.
The reconciler holds no Kubernetes client of its own: it gets a :class:`KubernetesApi`, a clock
and an :class:`EventRecorder`, so that the tests drive it against kmock's emulator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from braid.operator._errors import KubernetesError, ObjectNotFound, RenderError
from braid.operator._eventing import EventRecorder
from braid.operator._kubernetes import DEPLOYMENTS, GRAPHS, OWNED, PODS, KubernetesApi
from braid.operator._labels import (
    GRAPH_LABEL,
    MANAGED_BY,
    NODE_LABEL,
    KubeObject,
    owned_selector,
)
from braid.operator._live_nodes import LiveNode, live_node
from braid.operator._metrics import OperatorMetrics
from braid.operator._observing import invalid_status, observed_status, transitions
from braid.operator._rendering import render, size_problems
from braid.operator._settings import OperatorSettings
from braid.operator._subgraphs import cycle_problems
from braid.spec import (
    ConditionStatus,
    ConditionType,
    DeploymentGraph,
    GraphInvalid,
    GraphStatus,
    ManifestError,
    Problem,
    validate_graph,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did."""

    #: None when the graph was gone by the time the reconcile began, so nothing was done.
    status: GraphStatus | None
    invalid: bool = False
    applied: int = 0
    pruned: int = 0
    #: Set when applying failed in a way that trying again later may fix.
    error: KubernetesError | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    """Reconciles DeploymentGraphs through a :class:`KubernetesApi`."""

    def __init__(
        self,
        api: KubernetesApi,
        settings: OperatorSettings,
        events: EventRecorder,
        metrics: OperatorMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._api = api
        self._settings = settings
        self._events = events
        self._metrics = metrics or OperatorMetrics()
        self._clock = clock
        # One lock per graph: a reconcile and a status refresh never interleave their writes.
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        # Graphs with a status refresh waiting for the lock: one waiting refresh sees every
        # change made before it starts, so a burst of child events costs two refreshes at most.
        self._refresh_waiting: set[tuple[str, str]] = set()

    def _lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self._locks.setdefault((namespace, name), asyncio.Lock())

    @property
    def metrics(self) -> OperatorMetrics:
        return self._metrics

    def lock(self, namespace: str, name: str) -> asyncio.Lock:
        """The graph's lock: whoever else writes its children (the autoscaler) holds it too."""
        return self._lock(namespace, name)

    async def reconcile(self, body: Mapping[str, Any]) -> Outcome:
        """Make the cluster match the graph in ``body``; see the module docstring."""
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        started = time.perf_counter()
        async with self._lock(namespace, name):
            try:
                outcome = await self._reconcile(body, namespace, name)
            except KubernetesError as exc:
                self._metrics.api_errors.labels(str(exc.status)).inc()
                self._metrics.reconciles.labels("error").inc()
                raise
        self._metrics.duration.observe(time.perf_counter() - started)
        result = "invalid" if outcome.invalid else "error" if outcome.error else "ok"
        self._metrics.reconciles.labels(result).inc()
        if outcome.error is not None:
            self._metrics.api_errors.labels(str(outcome.error.status)).inc()
        return outcome

    async def _reconcile(self, body: Mapping[str, Any], namespace: str, name: str) -> Outcome:
        previous = _previous_status(body)
        generation = (body.get("metadata") or {}).get("generation")
        try:
            graph = _validated(body)
            too_big = size_problems(graph)
            if too_big:
                raise GraphInvalid(too_big)
            cycles = await cycle_problems(self._api, graph, namespace)
            if cycles:
                raise GraphInvalid(cycles)
        except GraphInvalid as exc:
            status = invalid_status(exc.problems, previous, generation, self._clock())
            await self._write_status(body, previous, status)
            logger.info("graph %s/%s is invalid: %d problems", namespace, name, len(exc.problems))
            return Outcome(status, invalid=True)
        if await self._deleted(body, namespace, name):
            # kopf hands over the body of an event it queued before the delete; applying it would
            # create children whose owner is gone (the garbage collector would remove them again).
            logger.info("graph %s/%s was deleted; not reconciling an old copy", namespace, name)
            return Outcome(None)
        deployments = await self._owned(DEPLOYMENTS.plural, namespace, name, graph)
        live = _live_nodes(deployments)
        failure: KubernetesError | RenderError | None = None
        applied: dict[tuple[str, str], KubeObject] = {}
        pruned = 0
        try:
            for obj in render(graph, self._settings, live):
                applied[obj["kind"], obj["metadata"]["name"]] = await self._api.apply(obj)
                self._metrics.applied.inc()
            pruned = await self._prune(graph, set(applied))
        except (KubernetesError, RenderError) as exc:
            failure = exc
            logger.warning("reconciling graph %s/%s failed: %s", namespace, name, exc)
        by_name = {d["metadata"]["name"]: d for d in deployments.values()}
        by_name.update({n: obj for (kind, n), obj in applied.items() if kind == "Deployment"})
        status = observed_status(
            graph,
            by_name,
            previous,
            generation,
            self._clock(),
            failure=None if failure is None else str(failure),
            pods=await self._pods(namespace, name),
        )
        await self._write_status(body, previous, status)
        if applied or pruned:
            logger.debug(
                "graph %s/%s: %d applied, %d pruned", namespace, name, len(applied), pruned
            )
        error = failure if isinstance(failure, KubernetesError) and failure.retryable else None
        return Outcome(status, applied=len(applied), pruned=pruned, error=error)

    async def _deleted(self, body: Mapping[str, Any], namespace: str, name: str) -> bool:
        """Whether the graph in ``body`` is gone from the API, is being deleted, or was replaced by
        a graph of the same name (another uid): one read before any child is written."""
        try:
            current = await self._api.get(GRAPHS, namespace, name)
        except ObjectNotFound:
            return True
        meta = current.get("metadata") or {}
        uid, ours = meta.get("uid"), (body.get("metadata") or {}).get("uid")
        return bool(meta.get("deletionTimestamp")) or (uid is not None and ours not in (None, uid))

    async def _owned(
        self, plural: str, namespace: str, name: str, graph: DeploymentGraph | None
    ) -> dict[str, KubeObject]:
        """The graph's objects of one kind, by name: its labels, and its uid as controller."""
        resource = next(r for r in OWNED if r.plural == plural)
        found = await self._api.list_objects(resource, namespace, owned_selector(name))
        uid = graph.metadata.uid if graph is not None else None
        return {
            obj["metadata"]["name"]: obj
            for obj in found
            if _owned_by(obj, name, uid) and obj.get("metadata", {}).get("name")
        }

    async def _pods(self, namespace: str, name: str) -> dict[str, list[KubeObject]]:
        """The graph's pods by node (they carry the labels of their Deployment's template)."""
        found = await self._api.list_objects(PODS, namespace, owned_selector(name))
        by_node: dict[str, list[KubeObject]] = {}
        for pod in found:
            node = (pod.get("metadata", {}).get("labels") or {}).get(NODE_LABEL)
            if node:
                by_node.setdefault(node, []).append(pod)
        return by_node

    async def _prune(self, graph: DeploymentGraph, rendered: set[tuple[str, str]]) -> int:
        namespace, name = str(graph.metadata.namespace), graph.metadata.name
        pruned = 0
        for resource in OWNED:
            owned = await self._owned(resource.plural, namespace, name, graph)
            for obj_name in sorted(owned):
                if (resource.kind, obj_name) in rendered:
                    continue
                await self._api.delete(resource, namespace, obj_name)
                logger.info("pruned %s %s/%s of graph %s", resource.kind, namespace, obj_name, name)
                self._metrics.pruned.inc()
                pruned += 1
        return pruned

    async def refresh_status(self, namespace: str, name: str) -> GraphStatus | None:
        """Recompute the status of a graph from its children (a child changed).

        Returns None, and does nothing, when a refresh of the same graph is already waiting.
        """
        key = (namespace, name)
        if key in self._refresh_waiting:
            return None
        self._refresh_waiting.add(key)
        try:
            async with self._lock(namespace, name):
                self._refresh_waiting.discard(key)
                return await self._refresh(namespace, name)
        finally:
            self._refresh_waiting.discard(key)

    async def _refresh(self, namespace: str, name: str) -> GraphStatus | None:
        try:
            body = await self._api.get(GRAPHS, namespace, name)
        except ObjectNotFound:
            return None
        previous = _previous_status(body)
        try:
            graph = _validated(body)
        except GraphInvalid:
            return None  # the Invalid condition stands until the spec changes
        deployments = await self._owned(DEPLOYMENTS.plural, namespace, name, graph)
        failure = _apply_failure(previous)
        generation = previous.observed_generation if previous else None
        status = observed_status(
            graph,
            deployments,
            previous,
            generation,
            self._clock(),
            failure=failure,
            pods=await self._pods(namespace, name),
        )
        await self._write_status(body, previous, status)
        return status

    def forget(self, namespace: str, name: str) -> None:
        """A graph was deleted; its children go with it by their ownerReferences."""
        self._locks.pop((namespace, name), None)
        self._metrics.forget(namespace, name)

    async def _write_status(
        self, body: Mapping[str, Any], previous: GraphStatus | None, status: GraphStatus
    ) -> None:
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        self._metrics.observe_status(namespace, name, status)
        if previous is not None and _dump(previous) == _dump(status):
            return
        try:
            await self._api.patch_status(namespace, name, _dump(status))
        except ObjectNotFound:
            logger.debug("graph %s/%s was deleted before its status was written", namespace, name)
            return
        for transition in transitions(previous, status):
            logger.info(
                "graph %s/%s: %s is %s (%s)",
                namespace,
                name,
                transition.type.value,
                transition.status.value,
                transition.reason,
            )
            await self._events.record(body, transition)


def _dump(status: GraphStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


def _validated(body: Mapping[str, Any]) -> DeploymentGraph:
    """The graph in ``body`` (status aside), or :class:`GraphInvalid` with every problem."""
    document = {key: value for key, value in body.items() if key != "status"}
    try:
        return validate_graph(document)
    except ManifestError as exc:
        raise GraphInvalid([Problem("", exc.message)]) from exc


def _previous_status(body: Mapping[str, Any]) -> GraphStatus | None:
    raw = body.get("status")
    if not isinstance(raw, dict) or not raw:
        return None
    try:
        return GraphStatus.model_validate(raw)
    except ValidationError:
        logger.debug("ignoring a status that does not parse: %s", raw)
        return None


def _owned_by(obj: Mapping[str, Any], graph_name: str, uid: str | None) -> bool:
    """Labelled as the graph's, and not controlled by some other object."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(MANAGED_BY) != "braid" or labels.get(GRAPH_LABEL) != graph_name:
        return False
    controllers = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
    return uid is None or not controllers or any(o.get("uid") == uid for o in controllers)


def _live_nodes(deployments: Mapping[str, KubeObject]) -> dict[str, LiveNode]:
    live = {}
    for deployment in deployments.values():
        node = (deployment.get("metadata", {}).get("labels") or {}).get(NODE_LABEL)
        if node:
            live[node] = live_node(deployment)
    return live


def _apply_failure(previous: GraphStatus | None) -> str | None:
    """The last apply failure, kept until the next reconcile clears or repeats it."""
    for condition in previous.conditions if previous else []:
        if (
            condition.type is ConditionType.DEGRADED
            and condition.status is ConditionStatus.TRUE
            and condition.reason == "ApplyFailed"
        ):
            return condition.message
    return None
