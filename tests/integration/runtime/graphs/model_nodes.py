"""Multiplexed nodes (graphs/models.yaml): each answer says which replica served which model,
and how often that replica loaded and unloaded each model."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from braid.runtime import Handle, get_model, get_model_id


class Loaded:
    def __init__(self, model_id: str, pool: Pool) -> None:
        self.model_id, self._pool = model_id, pool

    def cleanup(self) -> None:
        self._pool.unloaded.append(self.model_id)


class Pool:
    def __init__(self) -> None:
        self.loads: dict[str, int] = {}
        self.unloaded: list[str] = []
        self.held: list[str] = []

    async def load_model(self, model_id: str) -> Loaded:
        self.loads[model_id] = self.loads.get(model_id, 0) + 1
        await asyncio.sleep(0.3)  # concurrent calls for this model wait for this one load
        return Loaded(model_id, self)

    def describe(self, request: Any) -> dict[str, Any]:
        model: Loaded = get_model()
        return {
            "pid": os.getpid(),
            "model": get_model_id(),
            "loaded_model": model.model_id,
            "loads": self.loads,
            "unloaded": self.unloaded,
        }


class Front:
    def __init__(self, solo: Handle) -> None:
        self._solo = solo

    async def relay(self, request: dict[str, Any]) -> Any:
        return await self._solo.options(model_id=request["model"]).describe.remote(request)
