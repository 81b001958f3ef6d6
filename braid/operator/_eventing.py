"""Kubernetes Events about graphs, posted by braid itself (``From: braid`` in kubectl describe).

The reconciler reports each condition transition through an :class:`EventRecorder`.
:class:`ApiEvents` posts it as a core/v1 Event through the same :class:`KubernetesApi` as
everything else. An Event is a courtesy: when it cannot be posted (the namespace is
terminating, the API server is restarting) it is dropped with one DEBUG or WARNING line and
never retried, so that a graph's reconcile never fails for the sake of an Event.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from braid.operator._errors import KubernetesError
from braid.operator._kubernetes import EVENTS, KubernetesApi
from braid.operator._labels import FIELD_MANAGER
from braid.operator._observing import Transition
from braid.spec import GROUP_VERSION, KIND

logger = logging.getLogger(__name__)

#: Statuses that mean "this namespace takes no new objects now": expected, not worth a warning.
_EXPECTED = {403, 404, 409}


class EventRecorder(Protocol):
    """Posts an Event about a graph."""

    async def record(self, graph: Mapping[str, Any], transition: Transition) -> None: ...


def event_object(
    graph: Mapping[str, Any], transition: Transition, now: datetime, instance: str
) -> dict[str, Any]:
    """The core/v1 Event for one transition of ``graph`` (pure)."""
    message = f"{transition.type.value} is {transition.status.value}: {transition.message}"
    return graph_event(
        graph,
        reason=transition.reason,
        message=message,
        warning=transition.warning,
        action="Reconcile",
        now=now,
        instance=instance,
    )


def graph_event(
    graph: Mapping[str, Any],
    *,
    reason: str,
    message: str,
    warning: bool,
    action: str,
    now: datetime,
    instance: str,
) -> dict[str, Any]:
    """A core/v1 Event about ``graph`` (pure)."""
    meta = graph.get("metadata") or {}
    name, namespace = str(meta.get("name")), str(meta.get("namespace"))
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    micro = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": GROUP_VERSION,
            "kind": KIND,
            "name": name,
            "namespace": namespace,
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": "Warning" if warning else "Normal",
        "reason": reason,
        "message": message,
        "source": {"component": FIELD_MANAGER},
        "reportingComponent": FIELD_MANAGER,
        "reportingInstance": instance,
        "action": action,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": micro,
        "count": 1,
    }


class ApiEvents:
    """:class:`EventRecorder` over a :class:`KubernetesApi`."""

    def __init__(
        self, api: KubernetesApi, clock: Callable[[], datetime], instance: str = FIELD_MANAGER
    ) -> None:
        self._api, self._clock, self._instance = api, clock, instance

    async def record(self, graph: Mapping[str, Any], transition: Transition) -> None:
        await self._post(graph, event_object(graph, transition, self._clock(), self._instance))

    async def scaled(self, graph: Mapping[str, Any], message: str) -> None:
        """An Event ``Scaled`` about an autoscaling decision; ``message`` is its reason."""
        event = graph_event(
            graph,
            reason="Scaled",
            message=message,
            warning=False,
            action="Scale",
            now=self._clock(),
            instance=self._instance,
        )
        await self._post(graph, event)

    async def _post(self, graph: Mapping[str, Any], event: dict[str, Any]) -> None:
        namespace = event["metadata"]["namespace"]
        try:
            await self._api.create(EVENTS, namespace, event)
        except KubernetesError as exc:
            level = logging.DEBUG if exc.status in _EXPECTED else logging.WARNING
            logger.log(
                level,
                "event %s about %s/%s dropped: %s",
                event["reason"],
                namespace,
                event["involvedObject"]["name"],
                exc,
            )
