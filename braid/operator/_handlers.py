"""The kopf handlers: thin adapters from kopf's causes to the :class:`Reconciler`.

- create, update and resume of a DeploymentGraph run the same level-triggered reconcile;
- a timer runs it again every ``resync_seconds`` to correct drift (someone edited a child);
- events of the Deployments braid manages refresh their graph's status;
- the deletion of a graph only forgets it: its children carry ownerReferences to it, so the
  garbage collector deletes them, and the operator holds no finalizer that could block a delete
  while it is down (docs/decisions/0003-level-triggered-reconcile.md).

Everything is registered on a registry made by :func:`build_registry`, never on kopf's global
one, so that tests build as many operators as they like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

import kopf

from braid.operator._errors import KubernetesError
from braid.operator._labels import GRAPH_LABEL, MANAGED_BY
from braid.operator._observing import Transition
from braid.operator._reconciling import Reconciler
from braid.operator._settings import OperatorSettings
from braid.spec import API_GROUP, API_VERSION, PLURAL

#: Seconds before kopf retries a reconcile that failed on a retryable API error.
RETRY_DELAY_SECONDS = 10.0


class KopfEvents:
    """Posts condition transitions as Kubernetes Events through kopf's event queue."""

    def record(self, graph: Mapping[str, Any], transition: Transition) -> None:
        kopf.event(
            cast(kopf.Body, graph),  # kopf reads only the metadata and the kind
            type="Warning" if transition.warning else "Normal",
            reason=transition.reason,
            message=f"{transition.type.value} is {transition.status.value}: {transition.message}",
        )


def configure(settings: kopf.OperatorSettings, ours: OperatorSettings) -> None:
    """kopf's settings for braid: where it keeps its state, peering, what it posts as Events."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="braid.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="braid.dev", key="last-handled-configuration"
    )
    # braid posts its own Events on condition transitions; kopf's per-handler chatter is noise.
    settings.posting.level = logging.WARNING
    settings.peering.priority = ours.priority
    settings.peering.mandatory = ours.peering_name is not None
    if ours.peering_name is not None:
        settings.peering.name = ours.peering_name
    settings.execution.max_workers = 4


def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's credentials: the pod's service account, else the kubeconfig.

    kopf's default login handlers need the ``kubernetes`` or ``pykube`` client libraries, which
    braid does not install; its own readers of both sources do the same without them.
    """
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


Login = Callable[..., "kopf.ConnectionInfo | None"]


def build_registry(
    reconciler: Reconciler, settings: OperatorSettings, credentials: Login = login
) -> kopf.OperatorRegistry:
    """A kopf registry with braid's handlers bound to ``reconciler``; ``credentials`` logs in."""
    registry = kopf.OperatorRegistry()
    graphs = (API_GROUP, API_VERSION, PLURAL)
    ours = settings
    kopf.on.login(registry=registry)(credentials)

    @kopf.on.startup(registry=registry)
    def configure_kopf(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure(settings, ours)

    @kopf.on.resume(*graphs, registry=registry)
    @kopf.on.create(*graphs, registry=registry)
    @kopf.on.update(*graphs, registry=registry)
    async def reconcile_graph(body: kopf.Body, **_: Any) -> None:
        await _reconcile(reconciler, body)

    @kopf.timer(
        *graphs,
        registry=registry,
        interval=settings.resync_seconds,
        initial_delay=settings.resync_seconds,
    )
    async def check_drift(body: kopf.Body, **_: Any) -> None:
        try:
            await reconciler.reconcile(body)
        except KubernetesError as exc:
            # The timer fires again; an error must not stop it.
            logging.getLogger(__name__).warning("drift check failed: %s", exc)

    @kopf.on.event(*graphs, registry=registry)
    def forget_graph(type: str, namespace: str | None, name: str, **_: Any) -> None:
        if type == "DELETED" and namespace is not None:
            reconciler.forget(namespace, name)

    @kopf.on.event(
        "apps",
        "v1",
        "deployments",
        registry=registry,
        labels={MANAGED_BY: "braid", GRAPH_LABEL: kopf.PRESENT},
    )
    async def follow_deployment(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
        if namespace is None:
            return
        try:
            await reconciler.refresh_status(namespace, labels[GRAPH_LABEL])
        except KubernetesError as exc:
            # The next event or the drift check tries again; a watch handler has no retries.
            logging.getLogger(__name__).warning("status refresh failed: %s", exc)

    return registry


async def _reconcile(reconciler: Reconciler, body: kopf.Body) -> None:
    try:
        outcome = await reconciler.reconcile(body)
    except KubernetesError as exc:
        if exc.retryable:
            raise kopf.TemporaryError(str(exc), delay=RETRY_DELAY_SECONDS) from exc
        raise kopf.PermanentError(str(exc)) from exc
    if outcome.error is not None:
        raise kopf.TemporaryError(str(outcome.error), delay=RETRY_DELAY_SECONDS)
