"""A node whose methods are batched (graphs/batches.yaml): each answer says its batch's size."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any


class Gather:
    async def echo(self, items: list[Any]) -> list[dict[str, Any]]:
        await asyncio.sleep(0.3)
        return [{"item": item, "batch": len(items)} for item in items]

    def sync_echo(self, items: list[Any]) -> list[dict[str, Any]]:
        time.sleep(0.1)
        thread = threading.current_thread().name
        return [{"item": item, "batch": len(items), "thread": thread} for item in items]

    async def fail(self, items: list[Any]) -> list[Any]:
        raise ValueError("cannot score this batch")

    def wrong(self, items: list[Any]) -> list[Any]:
        return items[:-1]
