"""Nodes of the fan-in tests: producers that fail, die or hang on request, and a join."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any


def _mark(path: Path, name: str) -> None:
    path.write_text(name)


async def _appears(path: Path, seconds: float = 60.0) -> None:
    """Wait (a while at most) until ``path`` exists."""
    for _ in range(int(seconds / 0.05)):
        if await asyncio.to_thread(path.exists):
            return
        await asyncio.sleep(0.05)


class Leaf:
    async def make(self, value: dict[str, Any], name: str) -> dict[str, Any]:
        if value.get("fail") == name:
            if "fail_after" in value:  # fail only once another producer is running
                await _appears(Path(value["fail_after"]))
            raise ValueError(f"producer {name} failed")
        if value.get("die") == name:
            os._exit(3)  # the replica's process dies in the middle of the call
        if value.get("hang") == name:
            _mark(Path(value["marker"] + ".started"), name)
            try:
                await asyncio.sleep(600)
            except asyncio.CancelledError:  # the join gave up on this input: say so
                _mark(Path(value["marker"]), name)
                raise
        return {"name": name, "join": value.get("join"), "n": value.get("n")}


class Joiner:
    async def join(self, a: dict[str, Any], b: str, c: dict[str, Any]) -> list[Any]:
        if a["join"] == "raise":
            raise RuntimeError("the join failed")
        if a["join"] == "die":
            os._exit(4)
        return [a["name"], b, c["name"], a["n"]]
