"""Model multiplexing: one node serves many models by id, loaded on demand.

A node with ``multiplexing`` (``spec.nodes[].multiplexing``) has a loader method (``load_model``
by default). Before a call that names a model id (``CallRequest.model_id``) runs, the replica's
:class:`ModelCache` makes sure that model is loaded:

- the loader runs once per model per replica; calls for a model that is being loaded wait for
  that one load (the load runs in a task of its own, so a waiting call that times out does not
  cancel it for the others); a loader that raises fails the calls that waited for it, and the
  next call tries again;
- at most ``maxModelsPerReplica`` models stay loaded: before a new one loads, the least recently
  used is dropped, and its ``cleanup()`` is called when it has one;
- user code reads the call's model id with ``braid.runtime.get_model_id()`` and the loaded
  model with ``braid.runtime.get_model()``.

The replica reports the ids it holds (:meth:`ModelCache.loaded`, least recently used first) in
each reply (``CallReply.models``), and callers' routers prefer replicas that hold a call's model
(``_wire/routing.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)


class LruOrder:
    """Model ids in least-recently-used order (pure bookkeeping, no models)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._order

    def __len__(self) -> int:
        return len(self._order)

    def ids(self) -> list[str]:
        return list(self._order)

    def touch(self, model_id: str) -> None:
        """``model_id`` was used now (added if new)."""
        self._order[model_id] = None
        self._order.move_to_end(model_id)

    def remove(self, model_id: str) -> None:
        self._order.pop(model_id, None)

    def victims(self, incoming: int = 1) -> list[str]:
        """The ids to unload so that ``incoming`` more fit, least recently used first."""
        excess = len(self._order) + incoming - self.capacity
        return list(self._order)[: max(excess, 0)]


Load = Callable[[str], Awaitable[Any]]
Unload = Callable[[str, Any], Awaitable[None]]


class ModelCache:
    """The models one replica holds: loaded once each, unloaded least recently used first."""

    def __init__(self, load: Load, unload: Unload, *, capacity: int) -> None:
        self._load, self._unload = load, unload
        self._order = LruOrder(capacity)
        self._models: dict[str, Any] = {}
        self._loading: dict[str, asyncio.Task[Any]] = {}

    def loaded(self) -> list[str]:
        """The ids of the loaded models, least recently used first."""
        return self._order.ids()

    async def get(self, model_id: str) -> Any:
        """The model ``model_id``, loading it first if needed."""
        if model_id in self._order:
            self._order.touch(model_id)
            return self._models[model_id]
        task = self._loading.get(model_id)
        if task is None:
            task = asyncio.create_task(self._load_one(model_id), name=f"load model {model_id}")
            self._loading[model_id] = task
        # shield: a caller that gives up (its deadline) leaves the load running for the others.
        return await asyncio.shield(task)

    async def _load_one(self, model_id: str) -> Any:
        try:
            for victim in self._order.victims(incoming=len(self._loading)):
                await self._drop(victim)
            model = await self._load(model_id)
            for victim in self._order.victims(incoming=1):  # others finished loading meanwhile
                await self._drop(victim)
            self._models[model_id] = model
            self._order.touch(model_id)
            return model
        finally:
            self._loading.pop(model_id, None)

    async def _drop(self, model_id: str) -> None:
        model = self._models.pop(model_id, None)
        self._order.remove(model_id)
        logger.info("unloading model %s (least recently used)", model_id)
        try:
            await self._unload(model_id, model)
        except Exception:  # a failed cleanup must not fail the call that needs the room
            logger.exception("the cleanup of model %s raised", model_id)

    async def close(self) -> None:
        for task in list(self._loading.values()):
            task.cancel()
        for model_id in self._order.ids():
            await self._drop(model_id)
