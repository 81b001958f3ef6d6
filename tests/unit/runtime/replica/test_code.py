"""Loading user code: a constructor that runs long reports its progress."""

from __future__ import annotations

import asyncio
import logging

from braid.runtime._replica import code
from braid.runtime._replica.code import with_progress


class _Noticing(logging.Handler):
    def __init__(self, event: asyncio.Event) -> None:
        super().__init__()
        self.event = event
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.event.set()


async def test_a_long_construction_logs_progress_until_it_ends() -> None:
    logged, release = asyncio.Event(), asyncio.Event()
    handler = _Noticing(logged)
    code.logger.addHandler(handler)
    code.logger.setLevel(logging.INFO)

    async def construct() -> int:
        await release.wait()
        return 7

    try:
        task = asyncio.create_task(with_progress(construct(), node="slow", every=0.01))
        await logged.wait()
        release.set()
        assert await task == 7
    finally:
        code.logger.removeHandler(handler)
        code.logger.setLevel(logging.NOTSET)
    assert handler.messages[0].startswith('still constructing node "slow", ')
