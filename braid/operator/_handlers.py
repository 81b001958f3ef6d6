"""The kopf handlers: thin adapters from kopf's causes to the :class:`Reconciler`.

- create, update and resume of a DeploymentGraph run the same level-triggered reconcile; a
  failure that may pass (5xx, 403, 409, 429, no connection) is retried with a doubling delay;
- the drift check is not a kopf timer (kopf puts a finalizer on everything a timer or daemon
  watches): an event handler keeps the :class:`~braid.operator._resyncing.GraphIndex` of the
  graphs the watch reports, and a task started with the operator reconciles them every
  ``resync_seconds`` (:class:`~braid.operator._resyncing.Resyncer`);
- events of the Deployments and Pods braid manages refresh their graph's status;
- the autoscaler (:mod:`._autoscaling`) is a task like the drift check, over the same graphs;
- the deletion of a graph only forgets it: its children carry ownerReferences to it, so the
  garbage collector deletes them, and no handler asks kopf for a finalizer, so a delete never
  waits for the operator (docs/decisions/0003-level-triggered-reconcile.md). A finalizer that
  an earlier braid left on a graph is removed by kopf at the graph's next event.

Everything is registered on a registry made by :func:`build_registry`, never on kopf's global
one, so that tests build as many operators as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from braid.operator._autoscaling import Autoscaler, AutoscalerLoop, LoadReader, read_pod_metrics
from braid.operator._configuring import configure
from braid.operator._errors import KubernetesError
from braid.operator._eventing import ApiEvents
from braid.operator._kubernetes import KubernetesApi
from braid.operator._labels import GRAPH_LABEL, MANAGED_BY
from braid.operator._reconciling import Reconciler, utcnow
from braid.operator._resyncing import Resyncer
from braid.operator._settings import OperatorSettings
from braid.spec import API_GROUP, API_VERSION, PLURAL

logger = logging.getLogger(__name__)


def retry_delay(retry: int, settings: OperatorSettings) -> float:
    """Seconds before retry number ``retry`` (0 first): doubling from backoff_seconds, capped."""
    return float(min(settings.backoff_max_seconds, settings.backoff_seconds * 2 ** min(retry, 30)))


def own_identity() -> str:
    """This operator's name among its peers: the pod's name (the host name) and a nonce."""
    return f"{socket.gethostname()}-{secrets.token_hex(3)}"


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's credentials: the pod's service account, else the kubeconfig.

    kopf's default login handlers need the ``kubernetes`` or ``pykube`` client libraries, which
    braid does not install; its own readers of both sources do the same without them.
    """
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


Login = Callable[..., "kopf.ConnectionInfo | None"]


def build_registry(
    reconciler: Reconciler,
    api: KubernetesApi,
    settings: OperatorSettings,
    *,
    identity: str,
    credentials: Login = login,
    load_reader: LoadReader = read_pod_metrics,
) -> kopf.OperatorRegistry:
    """A kopf registry with braid's handlers bound to ``reconciler``; ``credentials`` logs in.

    ``identity`` must be the one given to kopf for peering: the drift check asks the peering
    object whether this operator is the active one. ``load_reader`` reads a pod's metrics for
    the autoscaler.
    """
    registry = kopf.OperatorRegistry()
    graphs = (API_GROUP, API_VERSION, PLURAL)
    ours = settings
    resyncer = Resyncer(reconciler, api, settings, identity, utcnow)
    autoscaler = Autoscaler(
        api,
        settings,
        events=ApiEvents(api, utcnow, identity),
        lock=reconciler.lock,
        read=load_reader,
        metrics=reconciler.metrics,
    )
    scaling = AutoscalerLoop(
        autoscaler, lambda: list(resyncer.graphs), resyncer.active, settings.autoscale_seconds
    )
    running: list[asyncio.Task[None]] = []
    kopf.on.login(registry=registry)(credentials)

    @kopf.on.startup(registry=registry)
    async def start(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings, ours)
        running.append(asyncio.create_task(resyncer.run(), name="braid drift check"))
        running.append(asyncio.create_task(scaling.run(), name="braid autoscaler"))

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        for task in running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @kopf.on.resume(*graphs, registry=registry)
    @kopf.on.create(*graphs, registry=registry)
    @kopf.on.update(*graphs, registry=registry)
    async def reconcile_graph(body: kopf.Body, retry: int, **_: Any) -> None:
        try:
            outcome = await reconciler.reconcile(body)
        except KubernetesError as exc:
            if exc.retryable:
                raise kopf.TemporaryError(str(exc), delay=retry_delay(retry, ours)) from exc
            raise kopf.PermanentError(str(exc)) from exc
        if outcome.error is not None:
            raise kopf.TemporaryError(str(outcome.error), delay=retry_delay(retry, ours))

    @kopf.on.event(*graphs, registry=registry)
    def index_graph(type: str | None, namespace: str | None, name: str, **_: Any) -> None:
        if namespace is None:
            return
        resyncer.graphs.saw(namespace, name, deleted=type == "DELETED")
        if type == "DELETED":
            reconciler.forget(namespace, name)

    async def refresh(labels: Mapping[str, str], namespace: str | None) -> None:
        if namespace is None:
            return
        try:
            await reconciler.refresh_status(namespace, labels[GRAPH_LABEL])
        except KubernetesError as exc:
            # The next event or the drift check tries again; a watch handler has no retries.
            logger.warning("status refresh failed: %s", exc)

    ours_only: Mapping[str, Any] = {MANAGED_BY: "braid", GRAPH_LABEL: kopf.PRESENT}

    @kopf.on.event("apps", "v1", "deployments", registry=registry, labels=ours_only)
    async def follow_deployment(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
        await refresh(labels, namespace)

    @kopf.on.event("", "v1", "pods", registry=registry, labels=ours_only)
    async def follow_pod(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
        await refresh(labels, namespace)

    return registry
