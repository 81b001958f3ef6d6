"""Running the operator: credentials, the metrics endpoint, kopf's tasks and their supervision.

This is the only module that starts servers, handles signals and reads credentials (in-cluster
service account first, then the kubeconfig). kopf and kubernetes_asyncio are imported inside
:func:`run_operator`: they belong to the ``operator`` extra, and ``braid render`` must work with
a plain installation of braid.

kopf runs as a set of root tasks (watchers, peering, the health endpoint). If one of them ends
while nobody asked the operator to stop, the operator is alive but deaf: the process then exits
non-zero within ``STOP_GRACE_SECONDS``, so that Kubernetes restarts it. SIGTERM and SIGINT
always stop it within about three times that bound, whatever state kopf is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Collection
from typing import Any, cast

from braid.operator._errors import KubernetesError, OperatorError
from braid.operator._metrics import OperatorMetrics
from braid.operator._settings import OperatorSettings

logger = logging.getLogger(__name__)

#: Seconds kopf gets to stop its tasks before they are abandoned and the process exits.
STOP_GRACE_SECONDS = 10.0

#: kopf's messages that are internals, not news: one per handler call, one per cancelled handler
#: at shutdown. They are logged at DEBUG instead of INFO or WARNING.
_CHATTER = (" succeeded.", "is processed:", "is cancelled. Will escalate.")


class KopfLogFilter(logging.Filter):
    """Turns kopf's per-handler chatter into DEBUG lines and its retries into warnings.

    Installed on the log handlers by ``braid operator`` (log output is configured in the CLI).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kopf"):
            return True
        message = record.getMessage()
        if any(part in message for part in _CHATTER):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        if record.levelno == logging.ERROR and "failed; will retry" in message:
            # A request kopf tries again (the API server restarts): a warning, not an error.
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class OperatorStopped(OperatorError):
    """kopf stopped working although nobody asked it to; the process must be restarted."""


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


async def supervise(
    root_tasks: Collection[asyncio.Task[Any]],
    runner: asyncio.Task[None],
    stop: asyncio.Event,
    grace: float = STOP_GRACE_SECONDS,
) -> None:
    """Wait until ``stop`` is set or one of kopf's root tasks ends, then stop kopf (bounded).

    Raises :class:`OperatorStopped` when a root task ended on its own.
    """
    stopping = asyncio.create_task(stop.wait())
    watched = {stopping, runner, *root_tasks}
    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    broken = [task for task in done if task is not stopping and not stop.is_set()]
    stop.set()  # kopf's stop flag: it stops every root task
    stopping.cancel()
    _, pending = await asyncio.wait({runner}, timeout=grace)
    if pending:
        logger.warning("kopf did not stop within %.1f s; abandoning its tasks", grace)
        runner.cancel()
        await asyncio.wait({runner}, timeout=grace)
    if broken:
        task = broken[0]
        error = None if task.cancelled() else task.exception()
        raise OperatorStopped(
            f"kopf's task {task.get_name()!r} stopped ({error or 'it finished'}); the operator "
            "exits so that Kubernetes restarts it"
        )


async def run_operator(settings: OperatorSettings) -> None:
    """Run the operator until it is stopped (SIGTERM, SIGINT or cancellation)."""
    import kopf  # noqa: PLC0415
    from prometheus_client import start_http_server  # noqa: PLC0415

    from braid.operator._eventing import ApiEvents  # noqa: PLC0415
    from braid.operator._handlers import build_registry, own_identity  # noqa: PLC0415
    from braid.operator._kubernetes import ApiClientKubernetes  # noqa: PLC0415
    from braid.operator._reconciling import Reconciler, utcnow  # noqa: PLC0415

    metrics = OperatorMetrics()
    server = None
    if settings.metrics_port:
        server, _ = start_http_server(settings.metrics_port, registry=metrics.registry)
        logger.info("metrics on :%d/metrics", settings.metrics_port)
    api_client = await _api_client()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    try:
        api = ApiClientKubernetes(api_client)
        identity = own_identity()
        reconciler = Reconciler(api, settings, ApiEvents(api, utcnow, identity), metrics)
        health = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
        existing = asyncio.all_tasks()
        root_tasks = await kopf.spawn_tasks(
            registry=build_registry(reconciler, api, settings, identity=identity),
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            standalone=settings.peering_name is None,
            peering_name=settings.peering_name,
            priority=settings.priority,
            identity=cast(Any, identity),  # kopf's Identity is a NewType of str
            liveness_endpoint=health,
            stop_flag=stop,
        )
        # kopf's own signal handlers stop listening once its tasks are gone; braid's always work.
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        runner = asyncio.create_task(kopf.run_tasks(root_tasks, ignored=existing))
        try:
            await supervise(list(root_tasks), runner, stop)
        except OperatorStopped:
            _exit_after(STOP_GRACE_SECONDS, 1)
            raise
        _exit_after(STOP_GRACE_SECONDS, 0)
    finally:
        await api_client.close()
        if server is not None:
            server.shutdown()


def _exit_after(seconds: float, status: int) -> None:
    """End the process after ``seconds`` if it has not ended by then.

    asyncio.run cancels every task left when the operator returns, and waits for them: a task
    of kopf's that ignores its cancellation would keep a stopped operator alive forever. This
    daemon timer never delays a normal exit.
    """
    timer = threading.Timer(seconds, os._exit, (status,))
    timer.daemon = True
    timer.start()
