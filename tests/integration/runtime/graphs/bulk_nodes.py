"""Node code of the bulk-payload graphs (decision 0012): hops that pass large values on, and a
slow producer whose consumer a test kills while the producer still works."""

from __future__ import annotations

import asyncio
from typing import Any


class Pass:
    """Returns its input: bytes and numpy arrays cross every hop unchanged."""

    async def forward(self, value: Any) -> Any:
        return value


class Slow:
    """Takes a while before handing its (large) input on, so a test can kill the consumer."""

    async def forward(self, value: Any) -> Any:
        await asyncio.sleep(2)
        return value


class Size:
    """The consumer: answers the size of what it received, a small value."""

    def size(self, value: bytes) -> int:
        return len(value)
