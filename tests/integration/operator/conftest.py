"""Fixtures: kmock's emulated API (see operator_emulator.py) and kopf running braid's handlers.

kopf owns the event loop it runs in (at exit it cancels every task it did not start), so each
operator runs in a thread of its own with its own loop and its own client, and talks to the
emulator over loopback, as a real operator talks to a real API server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import kmock
import kopf
import pytest
from kubernetes_asyncio import client
from operator_emulator import ApiServer, declare_resources, watches_open

from braid.operator import ApiEvents, KubernetesApi, OperatorSettings, Reconciler
from braid.operator._autoscaling import LoadReader, read_pod_metrics
from braid.operator._handlers import build_registry, own_identity
from braid.operator._kubernetes import ApiClientKubernetes
from braid.operator._reconciling import utcnow


@pytest.fixture
async def api_server() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server, kmock.Server(server):
        declare_resources(server)
        yield server


class RecordedEvents:
    """Events the reconciler posts, kept for assertions (and posted to the API too)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.api: ApiEvents | None = None

    async def record(self, graph: Any, transition: Any) -> None:
        self.reasons.append(transition.reason)
        if self.api is not None:
            await self.api.record(graph, transition)


class OperatorThread:
    """One kopf operator with braid's handlers, in a thread with its own event loop."""

    def __init__(
        self,
        url: str,
        settings: OperatorSettings,
        wrap: Callable[[KubernetesApi], KubernetesApi] | None = None,
        load_reader: LoadReader = read_pod_metrics,
    ) -> None:
        self.events = RecordedEvents()
        self._url, self._settings, self._wrap = url, settings, wrap
        self._load_reader = load_reader
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="operator", daemon=True)
        self.identity = own_identity()
        #: Set when kopf's run ended on its own (not by stop()): the operator is deaf.
        self.crashed: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(15):
            raise AssertionError("the operator did not start within 15 seconds")

    def stop(self) -> None:
        """Stop abruptly (like a killed pod): cancel everything the operator runs."""
        if not self._thread.is_alive():
            return
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(20)
        if self._thread.is_alive():
            raise AssertionError("the operator did not stop within 20 seconds")

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        configuration = client.Configuration(host=self._url)
        async with client.ApiClient(configuration) as api_client:
            api: KubernetesApi = ApiClientKubernetes(api_client)
            if self._wrap is not None:
                api = self._wrap(api)
            self.events.api = ApiEvents(api, utcnow, self.identity)
            reconciler = Reconciler(api, self._settings, self.events)

            def login(**_: Any) -> kopf.ConnectionInfo:
                return kopf.ConnectionInfo(server=self._url)

            registry = build_registry(
                reconciler,
                api,
                self._settings,
                identity=self.identity,
                credentials=login,
                load_reader=self._load_reader,
            )
            peering = self._settings.peering_name
            self._task = asyncio.create_task(
                kopf.operator(
                    registry=registry,
                    clusterwide=True,
                    standalone=peering is None,
                    peering_name=peering,
                    priority=self._settings.priority,
                    identity=cast(Any, self.identity),
                    ready_flag=self._ready,
                )
            )
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except BaseException as exc:
                self.crashed = exc
            else:
                self.crashed = RuntimeError("kopf's operator returned on its own")


StartOperator = Callable[..., Any]


@pytest.fixture
async def start_operator(api_server: ApiServer) -> AsyncIterator[StartOperator]:
    """Start operators on the emulator; every one is stopped at the end of the test.

    Stopping runs in a thread while this loop keeps serving the emulated API: kopf's last
    requests (a peering goodbye) must be answered for it to stop.
    """
    started: list[OperatorThread] = []

    async def start(
        settings: OperatorSettings | None = None,
        wrap: Callable[[KubernetesApi], KubernetesApi] | None = None,
        load_reader: LoadReader = read_pod_metrics,
    ) -> OperatorThread:
        runner = OperatorThread(
            str(api_server.url).rstrip("/"), settings or OperatorSettings(), wrap, load_reader
        )
        started.append(runner)
        await asyncio.to_thread(runner.start)
        await watches_open(api_server, len(started))
        return runner

    yield start
    # Stop from a thread: the emulator serves on this loop, and kopf's shutdown talks to it, so
    # blocking the loop here made the stop wait on itself (up to the 20-second limit).
    for runner in started:
        await asyncio.to_thread(runner.stop)
