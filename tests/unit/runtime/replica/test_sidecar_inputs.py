"""The sidecar's gathering of a call's inputs: the first failure wins and cancels the rest."""

from __future__ import annotations

import asyncio

import pytest

from braid.runtime._replica.sidecar import _first_failure
from braid.runtime._wire.errors import UserCodeError


async def test_all_inputs_come_back_in_order() -> None:
    async def value(result: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return result

    assert await _first_failure([value(1, 0.02), value(2, 0), value(3, 0.01)]) == [1, 2, 3]


async def test_the_first_failure_is_raised_and_cancels_the_inputs_still_waiting() -> None:
    never = asyncio.Event()
    cancelled: list[str] = []

    async def hang() -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append("hang")
            raise

    async def fail() -> None:
        await asyncio.sleep(0)
        raise UserCodeError("boom", node="leaf", step="b")

    with pytest.raises(UserCodeError) as caught:
        await _first_failure([hang(), fail(), hang()])
    assert caught.value.step == "b"
    assert cancelled == ["hang", "hang"]


async def test_cancelling_the_call_cancels_its_inputs() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def hang() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(_first_failure([hang()]))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()
