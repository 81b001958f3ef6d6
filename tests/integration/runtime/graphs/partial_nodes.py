"""Nodes of the partial-failure tests: steps that fail, hang or fail once on request."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any


class Flaky:
    """Fails or hangs when the input names the step; ``once`` fails on its first call per
    request (recorded in a marker file) and answers on the next; ``always`` always fails."""

    async def work(self, value: dict[str, Any], step: str) -> dict[str, Any]:
        if step in value.get("fail", ()):
            raise ValueError(f"{step} failed on purpose")
        if step in value.get("hang", ()):
            await asyncio.sleep(600)
        return {"name": step, "pid": os.getpid()}

    async def after(self, previous: dict[str, Any], value: dict[str, Any], step: str) -> Any:
        """``work``, after another step (so that it rides as that step's continuation)."""
        return await self.work(value, step)

    def once(self, value: dict[str, Any]) -> dict[str, Any]:
        marker = Path(value["marker"])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            raise RuntimeError("the first attempt fails")
        return {"pid": os.getpid(), "failed_on": int(marker.read_text())}

    def always(self, value: dict[str, Any]) -> dict[str, Any]:
        with Path(value["marker"]).open("a") as attempts:
            attempts.write(f"{os.getpid()}\n")
        raise RuntimeError("this step always fails")


class Backup:
    def rescue(self, value: dict[str, Any], step: str) -> dict[str, Any]:
        return {"name": f"rescued-{step}", "pid": os.getpid()}


class Joiner:
    def join(self, *parts: dict[str, Any]) -> list[Any]:
        return [part["name"] for part in parts]

    def vote(self, answers: list[dict[str, Any] | None], missing: list[str]) -> dict[str, Any]:
        return {
            "answers": [None if a is None else a["name"] for a in answers],
            "missing": missing,
        }
