"""The periodic drift check: every ``resync_seconds``, reconcile every graph the operator knows.

kopf's timers and daemons put a finalizer on every object they watch (kopf 1.45 forces it), and
a finalizer left behind by an operator that is down or uninstalled blocks ``kubectl delete`` of
the graph and of its namespace. So the drift check is not a kopf timer but one task per
operator: :class:`Resyncer` loops over the graphs that kopf's watch reported
(:class:`GraphIndex`, fed by an event handler), reads each one afresh and reconciles it.

With kopf peering only the active operator reconciles; kopf pauses its own handlers, and the
resyncer asks the same question of the peering object with :func:`peering_active`, kopf's
rule: a live peer (seen within its lifetime) of equal or higher priority makes this one wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from braid.operator._errors import KubernetesError, ObjectNotFound
from braid.operator._kubernetes import CLUSTER_PEERINGS, GRAPHS, PEERINGS, KubernetesApi
from braid.operator._reconciling import Reconciler
from braid.operator._settings import OperatorSettings

logger = logging.getLogger(__name__)


def peering_active(peers: Mapping[str, Any], identity: str, priority: int, now: datetime) -> bool:
    """Whether the operator ``identity`` is the one to act, by kopf's peering rule (pure).

    ``peers`` is the peering object's ``status``: ``{identity: {priority, lifetime, lastseen}}``.
    A peer that has not renewed within its lifetime is dead and does not count.
    """
    for other, info in peers.items():
        if other == identity or not isinstance(info, Mapping):
            continue
        try:
            seen = datetime.fromisoformat(str(info["lastseen"]))
            deadline = seen + timedelta(seconds=int(info.get("lifetime", 60)))
            their_priority = int(info.get("priority", 0))
        except (KeyError, TypeError, ValueError):
            continue
        if deadline > now and their_priority >= priority:
            return False
    return True


class GraphIndex:
    """The graphs kopf's watch reported, by namespace and name."""

    def __init__(self) -> None:
        self._known: set[tuple[str, str]] = set()

    def saw(self, namespace: str, name: str, *, deleted: bool) -> None:
        if deleted:
            self._known.discard((namespace, name))
        else:
            self._known.add((namespace, name))

    def __iter__(self) -> Any:
        return iter(sorted(self._known))


class Resyncer:
    """Reconciles every known graph every ``settings.resync_seconds`` while this peer is active."""

    def __init__(
        self,
        reconciler: Reconciler,
        api: KubernetesApi,
        settings: OperatorSettings,
        identity: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.graphs = GraphIndex()
        self._reconciler, self._api, self._settings = reconciler, api, settings
        self._identity, self._clock = identity, clock

    async def run(self) -> None:
        """Forever: wait one interval, then check every graph (cancel to stop)."""
        while True:
            await asyncio.sleep(self._settings.resync_seconds)
            await self.resync()

    async def resync(self) -> int:
        """One pass over every known graph; returns how many were reconciled."""
        done = 0
        active: dict[str, bool] = {}
        for namespace, name in list(self.graphs):
            if namespace not in active:
                active[namespace] = await self._active(namespace)
            if not active[namespace]:
                continue
            try:
                body = await self._api.get(GRAPHS, namespace, name)
            except ObjectNotFound:
                self.graphs.saw(namespace, name, deleted=True)
                continue
            except KubernetesError as exc:
                logger.warning("drift check of graph %s/%s failed: %s", namespace, name, exc)
                continue
            try:
                await self._reconciler.reconcile(body)
            except KubernetesError as exc:
                # The next pass tries again; kopf's own retries cover spec changes.
                logger.warning("drift check of graph %s/%s failed: %s", namespace, name, exc)
                continue
            done += 1
        return done

    async def active(self, namespace: str) -> bool:
        """Whether this operator is the active peer for ``namespace`` (always, standalone)."""
        return await self._active(namespace)

    async def _active(self, namespace: str) -> bool:
        peering = self._settings.peering_name
        if peering is None:
            return True
        resource = PEERINGS if self._settings.namespaces else CLUSTER_PEERINGS
        try:
            found = await self._api.get(resource, namespace, peering)
        except KubernetesError as exc:
            logger.debug("peering %s unreadable, skipping the drift check: %s", peering, exc)
            return False
        status = found.get("status")
        peers = status if isinstance(status, Mapping) else {}
        return peering_active(peers, self._identity, self._settings.priority, self._clock())
