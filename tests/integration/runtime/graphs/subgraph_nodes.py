"""Nodes of the sub-graph tests: a sleeper graph called by a napper graph."""

from __future__ import annotations

import asyncio


class Sleepy:
    async def nap(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds


def double(value: float) -> float:
    return value * 2
