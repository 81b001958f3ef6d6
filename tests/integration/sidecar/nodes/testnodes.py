"""Node code for the sidecar integration tests."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any


class Echo:
    async def run(self, value: Any) -> Any:
        return value

    def size(self, value: bytes) -> int:
        return len(value)


class Failing:
    def run(self, value: Any) -> Any:
        raise ValueError(f"cannot handle {value!r}")


class Slow:
    async def run(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds


class SlowStart:
    def __init__(self, seconds: float = 1.0) -> None:
        time.sleep(seconds)

    def run(self, value: Any) -> Any:
        return value


class SlowAfterFirst:
    """Constructed at once in the first replica; every later one waits in its constructor until
    the file ``release`` exists (at most 30 s), so a test can hold a replica mid-start."""

    def __init__(self, marker: str, release: str) -> None:
        first = Path(marker)
        if first.exists():
            ends = time.monotonic() + 30
            while not Path(release).exists() and time.monotonic() < ends:
                time.sleep(0.05)
        first.touch()

    async def run(self, value: Any) -> Any:
        return value


class Configured:
    def __init__(self) -> None:
        self.factor = 0

    def reconfigure(self, user_config: dict[str, int]) -> None:
        self.factor = user_config["factor"]

    def run(self, value: int) -> int:
        return value * self.factor


class Unencodable:
    def run(self, value: Any) -> Any:
        return object()
