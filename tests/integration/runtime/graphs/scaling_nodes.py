"""Nodes for the autoscaling tests: a sleeper that says which replica served, a constructor
that raises, and one that waits for a gate file before it is ready."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any


class Sleeper:
    async def work(self, seconds: float) -> int:
        await asyncio.sleep(seconds)
        return os.getpid()


class Unborn:
    def __init__(self) -> None:
        raise RuntimeError("no GPU here")

    def work(self, seconds: float) -> int:  # pragma: no cover - never constructed
        return 0


class Gated:
    def __init__(self, gate: str) -> None:
        while not Path(gate).exists():  # the test opens the gate once requests are held
            time.sleep(0.05)

    async def work(self, seconds: float) -> int:
        await asyncio.sleep(seconds)
        return os.getpid()


class Caller:
    """Calls the sleeper through a handle: its sidecar, not the ingress, holds the call."""

    def __init__(self, sleeper: Any) -> None:
        self.sleeper = sleeper

    async def call(self, seconds: float) -> int:
        pid: int = await self.sleeper.work.remote(seconds)
        return pid
