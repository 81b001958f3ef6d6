"""Model multiplexing: least-recently-used order, one load per model, cleanup on unload."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from braid.runtime._replica.multiplexing import LruOrder, ModelCache


def test_the_least_recently_used_goes_first() -> None:
    order = LruOrder(2)
    order.touch("a")
    order.touch("b")
    assert order.victims() == ["a"]
    order.touch("a")
    assert order.victims() == ["b"]
    assert order.ids() == ["b", "a"]


def test_no_victims_while_there_is_room() -> None:
    order = LruOrder(3)
    order.touch("a")
    assert order.victims() == []
    assert order.victims(incoming=3) == ["a"]


class _Models:
    def __init__(self) -> None:
        self.loads: list[str] = []
        self.unloads: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def load(self, model_id: str) -> Any:
        self.loads.append(model_id)
        await self.gate.wait()
        if model_id == "broken":
            raise KeyError(model_id)
        return f"model {model_id}"

    async def unload(self, model_id: str, model: Any) -> None:
        self.unloads.append(model_id)


async def test_each_model_loads_once_and_the_lru_one_is_unloaded() -> None:
    models = _Models()
    cache = ModelCache(models.load, models.unload, capacity=2)
    assert await cache.get("a") == "model a"
    await cache.get("b")
    await cache.get("a")
    await cache.get("c")  # b is the least recently used
    assert models.loads == ["a", "b", "c"]
    assert models.unloads == ["b"]
    assert cache.loaded() == ["a", "c"]


async def test_concurrent_calls_wait_for_one_load() -> None:
    models = _Models()
    models.gate.clear()
    cache = ModelCache(models.load, models.unload, capacity=2)
    calls = [asyncio.create_task(cache.get("a")) for _ in range(3)]
    await asyncio.sleep(0)
    models.gate.set()
    assert await asyncio.gather(*calls) == ["model a"] * 3
    assert models.loads == ["a"]


async def test_a_caller_that_gives_up_leaves_the_load_to_the_others() -> None:
    models = _Models()
    models.gate.clear()
    cache = ModelCache(models.load, models.unload, capacity=2)
    first = asyncio.create_task(cache.get("a"))
    second = asyncio.create_task(cache.get("a"))
    await asyncio.sleep(0)
    first.cancel()
    models.gate.set()
    assert await second == "model a"
    assert models.loads == ["a"]


async def test_a_failed_load_is_tried_again_by_the_next_call() -> None:
    models = _Models()
    cache = ModelCache(models.load, models.unload, capacity=2)
    for _ in range(2):
        with pytest.raises(KeyError):
            await cache.get("broken")
    assert models.loads == ["broken", "broken"]
    assert cache.loaded() == []
