"""Nodes for the request-lifecycle tests: handle chains, joins, empty streams, long calls."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np


class Front:
    """Calls ``mid`` through a handle; ``op`` says what goes wrong further down."""

    def __init__(self, mid: Any) -> None:
        self.mid = mid

    async def run(self, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "catch":
            try:
                return await self.mid.run.remote({"op": "divide"})
            except ZeroDivisionError as exc:
                return {"caught": "ZeroDivisionError", "message": exc.exc_message}
        if op == "by_reference":
            pending = self.mid.run.remote({"op": "divide"})
            return await self.mid.first.remote([pending])
        return await self.mid.run.remote(request)


class Mid:
    def __init__(self, leaf: Any) -> None:
        self.leaf = leaf

    async def run(self, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "await_generator":
            return await self.leaf.count.remote(3)
        if op == "stream_plain":
            return [item async for item in self.leaf.options(stream=True).divide.remote(1)]
        return await getattr(self.leaf, op).remote(request.get("arg"))

    async def first(self, responses: list[Any]) -> Any:
        return await responses[0]  # a response passed by reference, awaited here


class Leaf:
    def divide(self, value: Any) -> float:
        return 1 / 0

    async def sleep(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    def exit(self, value: Any) -> None:
        os._exit(3)

    def scalar(self, value: Any) -> Any:
        return np.float32(2.5) * np.ones(())

    async def count(self, n: int) -> AsyncIterator[int]:
        for number in range(n):
            yield number


class Empty:
    async def nothing(self, value: Any) -> AsyncIterator[Any]:
        return
        yield  # an async generator that yields nothing


class Long:
    async def wait(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    async def ticks(self, seconds: float) -> AsyncIterator[int]:
        """One item a second for ``seconds`` seconds."""
        for number in range(int(seconds)):
            await asyncio.sleep(1.0)
            yield number


class Producer:
    async def make(self, value: Any) -> Any:
        # 1 to 3 s, spread over the values: the joins become ready over two seconds, as they
        # would in real traffic, rather than all in the same millisecond.
        await asyncio.sleep(1.0 + (value % 100) / 50 if isinstance(value, int) else 2.0)
        return value


class Joiner:
    def join(self, left: Any, right: Any) -> Any:
        return [left, right]


class Gate:
    """Holds a request until a file exists, after marking that it started (and marks it
    cancelled if it is)."""

    async def hold(self, gate: str) -> str:
        Path(gate + ".started").touch()  # noqa: ASYNC240 - one small local file
        try:
            for _ in range(6000):  # bounded: at most 60 s
                if Path(gate).exists():  # noqa: ASYNC240 - one stat of a local file
                    return "done"
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            Path(gate + ".cancelled").touch()  # noqa: ASYNC240 - one small local file
            raise
        return "gate never opened"


class Scalar:
    def same(self, value: Any) -> Any:
        return value

    def make(self, value: Any) -> Any:
        return np.array(7.5)
