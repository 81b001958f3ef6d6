"""A streaming node and a caller that consumes its stream item by item."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


class Streamer:
    async def count(self, limit: int) -> AsyncIterator[int]:
        for number in range(limit):
            await asyncio.sleep(0.01)  # stands in for work that produces one item at a time
            yield number


class Caller:
    def __init__(self, streamer: Any) -> None:
        self.streamer = streamer

    async def relay(self, limit: int) -> AsyncIterator[int]:
        async for number in self.streamer.options(stream=True).count.remote(limit):
            yield number
