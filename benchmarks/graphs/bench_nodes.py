"""Trivial node code for the benchmark graphs: the bodies cost nothing, so hops are what counts.

Async methods, as in the Ray Serve deployments of benchmarks/rayserve/driver.py.
"""

from __future__ import annotations

from typing import Any


class Echo:
    """A hop: returns its input unchanged."""

    async def echo(self, value: Any) -> Any:
        return value


class PassBytes:
    """A hop of the payload graph: returns the bytes it received."""

    async def forward(self, data: bytes) -> bytes:
        return data


class Aggregate:
    """Joins a fan-out: returns how many values it received (a small value)."""

    async def join(self, values: list[Any]) -> int:
        return len(values)
