"""The node of the autoscaling benchmark (benchmarks/_scaling.py): each call takes ``work_s``."""

from __future__ import annotations

import asyncio


class Work:
    def __init__(self, work_s: float) -> None:
        self.work_s = work_s

    async def run(self, value: object) -> str:
        await asyncio.sleep(self.work_s)
        return "ok"
