"""Nodes of the graphs served by their own ASGI apps (test_ingress_apps.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


class Doubler:
    def __init__(self, counter: Any, failing: Any) -> None:
        self.counter, self.failing = counter, failing  # held so that the apps may call them

    def double(self, value: int) -> int:
        return value * 2


class Counter:
    async def count(self, limit: int) -> AsyncIterator[int]:
        for number in range(limit):
            await asyncio.sleep(0.01)
            yield number


class Failing:
    def explode(self, value: Any) -> Any:
        raise ValueError(f"cannot handle {value!r}")
