"""Fixtures: the emulated API (endpointslice_emulator.py) and braid's discovery watching it.

Discovery reaches the emulator over plain HTTP on loopback with ``ClusterAccess(tls=False)``,
the configuration for ``kubectl proxy``; its backoff waits on a recording clock, so a test sees
each delay it asked for, and the peers it had meanwhile, without waiting for real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import kmock
import pytest
from endpointslice_emulator import (
    GRAPH,
    NAMESPACE,
    Clock,
    EndpointSliceApi,
    StartDiscovery,
    rendered_services,
)

from braid.runtime._discovery.endpointslices import ClusterAccess, KubernetesDiscovery


@pytest.fixture(scope="session")
def services() -> dict[str, dict[str, Any]]:
    """The Services the operator renders for examples/chain, by name."""
    return rendered_services()


@pytest.fixture
async def api() -> AsyncIterator[EndpointSliceApi]:
    async with EndpointSliceApi() as server, kmock.Server(server):
        yield server
        server.end_watches()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def start_discovery(api: EndpointSliceApi, clock: Clock) -> AsyncIterator[StartDiscovery]:
    started: list[KubernetesDiscovery] = []

    async def start() -> KubernetesDiscovery:
        access = ClusterAccess(host="127.0.0.1", port=api.url.port, namespace=NAMESPACE, tls=False)
        discovery = KubernetesDiscovery(access, GRAPH, sleep=clock.sleep)
        clock.discovery = discovery
        started.append(discovery)
        await discovery.start()
        assert discovery.synced.is_set(), api.requests_to_slices()
        await api.watch_open()
        return discovery

    yield start
    for discovery in started:
        await discovery.close()
