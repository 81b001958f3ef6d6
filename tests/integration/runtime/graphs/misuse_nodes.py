"""Nodes for the Python API corpus: a caller that misuses its handle to a callee."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


class Caller:
    def __init__(self, callee: Any) -> None:
        self.callee = callee

    async def run(self, op: str) -> Any:
        callee = self.callee
        if op == "unknown method":
            return await callee.nope.remote(1)
        if op == "private method":
            return await callee._secret.remote(1)
        if op == "unencodable argument":
            return await callee.echo.remote(object())
        if op == "NaN argument":
            return await callee.echo.remote(float("nan"))
        if op == "too many arguments":
            return await callee.echo.remote(1, 2)
        if op == "unknown keyword":
            return await callee.echo.remote(1, colour="red")
        if op == "await a generator":
            return await callee.count.remote(2)
        if op == "stream a plain method":
            return [item async for item in callee.options(stream=True).echo.remote(1)]
        if op == "unencodable result":
            return await callee.unencodable.remote(1)
        if op == "NaN result":
            return await callee.nan.remote(1)
        if op == "callee raises":
            return await callee.fail.remote(1)
        if op == "stream option not a bool":
            return await callee.options(stream="yes").echo.remote(1)
        if op == "await a response twice":
            response = callee.echo.remote(7)
            return [await response, await response]
        if op == "return a response unawaited":
            return callee.echo.remote(5)
        if op == "sleep":
            await asyncio.sleep(2)
            return "slept"
        raise ValueError(f"unknown op {op!r}")


class Callee:
    def echo(self, value: Any) -> Any:
        return value

    async def count(self, n: int) -> AsyncIterator[int]:
        for number in range(n):
            yield number

    def unencodable(self, value: Any) -> Any:
        return object()

    def nan(self, value: Any) -> float:
        return float("nan")

    def fail(self, value: Any) -> Any:
        raise KeyError("missing")

    def _secret(self, value: Any) -> str:
        return "secret"
