"""An operator stopped in the middle of a reconcile, and its successor converging."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from operator_emulator import GRAPHS, ApiServer, eventually
from test_handlers import NS, chain, create

from braid.operator import KubernetesApi
from braid.operator._kubernetes import Resource
from braid.operator._labels import KubeObject


class Halting:
    """A client layer that hangs forever on its n-th apply, as a killed operator would stop."""

    def __init__(self, inner: KubernetesApi, applies: int) -> None:
        self._inner, self._left = inner, applies
        self.halted = threading.Event()

    async def apply(self, obj: KubeObject) -> KubeObject:
        if self._left == 0:
            self.halted.set()
            await asyncio.Event().wait()
        self._left -= 1
        return await self._inner.apply(obj)

    async def list_objects(
        self, resource: Resource, namespace: str, selector: str
    ) -> list[KubeObject]:
        return await self._inner.list_objects(resource, namespace, selector)

    async def get(self, resource: Resource, namespace: str, name: str) -> KubeObject:
        return await self._inner.get(resource, namespace, name)

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        await self._inner.delete(resource, namespace, name)

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._inner.patch_status(namespace, name, status)

    async def create(self, resource: Resource, namespace: str, obj: KubeObject) -> None:
        await self._inner.create(resource, namespace, obj)


async def test_restart_in_the_middle_of_a_reconcile_converges(
    api_server: ApiServer, start_operator: Any
) -> None:
    halting: list[Halting] = []

    def wrap(api: KubernetesApi) -> KubernetesApi:
        halting.append(Halting(api, applies=5))  # the access objects, the ConfigMap, one node
        return halting[0]

    first = await start_operator(wrap=wrap)
    await create(api_server, chain())
    assert await asyncio.to_thread(halting[0].halted.wait, 15)
    assert set(api_server.all_stored("apps/v1/deployments")) == {"chain-adder"}
    assert not (api_server.stored(GRAPHS, NS, "chain") or {}).get("status")
    await asyncio.to_thread(first.stop)  # the emulator keeps serving on this loop meanwhile

    await start_operator()
    deployments = await eventually(
        lambda: len(found := api_server.all_stored("apps/v1/deployments")) == 3 and found
    )
    assert set(deployments) == {"chain-adder", "chain-multiplier", "chain-ingress"}
    # The ingress Service is the last object applied.
    await eventually(lambda: api_server.stored("v1/services", NS, "chain-ingress") is not None)
    graph = await eventually(
        lambda: (g := api_server.stored(GRAPHS, NS, "chain")) and g.get("status") and g
    )
    assert graph["status"]["readyNodes"] == "0/2"
