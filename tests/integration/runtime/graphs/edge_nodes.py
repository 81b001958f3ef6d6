"""Nodes for the ingress's integration tests: failures, slowness, overload, streams, bytes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any


class Identity:
    def same(self, value: Any) -> Any:
        return value


class Failing:
    def explode(self, value: Any) -> Any:
        raise ValueError(f"cannot handle {value!r}")


class Slow:
    async def wait(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds


class Ticker:
    async def ticks(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Yield one item, then wait for ``request["gate"]`` to exist before yielding the rest."""
        yield {"tick": 0}
        gate = Path(request["gate"])
        for _ in range(2000):  # bounded: at most 20 s
            if gate.exists():  # noqa: ASYNC240 - one stat of a local file
                break
            await asyncio.sleep(0.01)
        for number in range(1, request["count"]):
            yield {"tick": number}


class Whoami:
    async def pid(self, seconds: float) -> int:
        await asyncio.sleep(seconds)
        return os.getpid()


class Front:
    """Calls the leaf through a handle: the in-code path that the pod layout must serve."""

    def __init__(self, leaf: Any) -> None:
        self.leaf = leaf

    async def relay(self, seconds: float) -> int:
        pid: int = await self.leaf.pid.remote(seconds)
        return pid
