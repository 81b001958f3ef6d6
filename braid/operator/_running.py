"""Running the operator: credentials, the metrics endpoint, kopf's settings and main loop.

This is the only module that starts servers and reads credentials (in-cluster service account
first, then the kubeconfig). kopf and kubernetes_asyncio are imported inside
:func:`run_operator`: they belong to the ``operator`` extra, and ``braid render`` must work with
a plain installation of braid.
"""

from __future__ import annotations

import logging
from typing import Any

from braid.operator._errors import KubernetesError
from braid.operator._metrics import OperatorMetrics
from braid.operator._settings import OperatorSettings

logger = logging.getLogger(__name__)


async def _api_client() -> Any:
    from kubernetes_asyncio import client, config  # noqa: PLC0415
    from kubernetes_asyncio.config import ConfigException  # noqa: PLC0415

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException:
        try:
            await config.load_kube_config()
        except (ConfigException, OSError) as exc:
            raise KubernetesError(
                "no Kubernetes credentials: not in a cluster and no usable kubeconfig "
                f"({exc}); set KUBECONFIG or run in a pod with a service account"
            ) from exc
    return client.ApiClient()


async def run_operator(settings: OperatorSettings) -> None:
    """Run the operator until it is stopped (SIGTERM, SIGINT or cancellation)."""
    import kopf  # noqa: PLC0415
    from prometheus_client import start_http_server  # noqa: PLC0415

    from braid.operator._handlers import KopfEvents, build_registry  # noqa: PLC0415
    from braid.operator._kubernetes import ApiClientKubernetes  # noqa: PLC0415
    from braid.operator._reconciling import Reconciler  # noqa: PLC0415

    metrics = OperatorMetrics()
    server = None
    if settings.metrics_port:
        server, _ = start_http_server(settings.metrics_port, registry=metrics.registry)
        logger.info("metrics on :%d/metrics", settings.metrics_port)
    api_client = await _api_client()
    try:
        reconciler = Reconciler(ApiClientKubernetes(api_client), settings, KopfEvents(), metrics)
        health = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
        await kopf.operator(
            registry=build_registry(reconciler, settings),
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            standalone=settings.peering_name is None,
            peering_name=settings.peering_name,
            priority=settings.priority,
            liveness_endpoint=health,
        )
    finally:
        await api_client.close()
        if server is not None:
            server.shutdown()
