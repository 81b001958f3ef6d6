"""Passing a response by reference: a response nested in a list reaches the callee unresolved.

As in Ray Serve, a response passed as a top-level argument is resolved before the callee runs
(chaining); nested inside a list or a dict it arrives as a response the callee awaits itself.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Producer:
    async def make(self, count: int) -> list[int]:
        await asyncio.sleep(0.05)  # slow enough that the consumer starts first
        return list(range(count))


class Consumer:
    async def total(self, pending: list[Any]) -> dict[str, Any]:
        started_before_ready = not pending[0].done()
        values = await pending[0]
        return {"total": sum(values), "started_before_ready": started_before_ready}


class Coordinator:
    def __init__(self, producer: Any, consumer: Any) -> None:
        self.producer = producer
        self.consumer = consumer

    async def run(self, count: int) -> dict[str, Any]:
        pending = self.producer.make.remote(count)  # not awaited
        return await self.consumer.total.remote([pending])
