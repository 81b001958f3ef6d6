"""The supervision of kopf's tasks and the filter of kopf's log chatter."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from braid.operator import KopfLogFilter, OperatorStopped
from braid.operator._running import supervise


async def forever() -> None:
    await asyncio.Event().wait()


async def stubborn() -> None:
    """A task that swallows its first cancellation, as a hung kopf shutdown does."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.Event().wait()


async def finish(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def failing() -> None:
    await asyncio.sleep(0)
    raise AssertionError("peering keep-alive gave up")


async def test_a_dead_root_task_stops_the_operator_with_an_error() -> None:
    root = [asyncio.create_task(failing(), name="multidimensional multitasker")]
    runner = asyncio.create_task(stubborn())
    with pytest.raises(OperatorStopped, match="multidimensional multitasker") as caught:
        await supervise(root, runner, asyncio.Event(), grace=0.05)
    assert "peering keep-alive gave up" in str(caught.value)
    assert runner.cancelling()  # asked twice: kopf's stop, then the abandonment
    await finish(runner)


async def test_a_stop_request_stops_even_a_stuck_kopf() -> None:
    root = [asyncio.create_task(forever(), name="watcher")]
    runner = asyncio.create_task(stubborn())
    stop = asyncio.Event()
    asyncio.get_running_loop().call_soon(stop.set)
    await supervise(root, runner, stop, grace=0.05)  # returns, although kopf is stuck
    assert runner.cancelling()
    await finish(runner)
    await finish(root[0])


async def test_a_root_task_that_ends_after_a_stop_is_no_error() -> None:
    stop = asyncio.Event()
    stop.set()
    root = [asyncio.create_task(asyncio.sleep(0), name="watcher")]
    await supervise(root, asyncio.create_task(asyncio.sleep(0)), stop, grace=0.05)


def record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.mark.parametrize(
    "message",
    [
        "Handler 'build_registry.<locals>.follow_deployment' succeeded.",
        "Creation is processed: 1 succeeded; 0 failed.",
        "Handler 'build_registry.<locals>.reconcile_graph' is cancelled. Will escalate.",
    ],
)
def test_kopf_chatter_is_debug(message: str) -> None:
    logging.getLogger("kopf.objects").setLevel(logging.INFO)
    try:
        entry = record("kopf.objects", logging.INFO, message)
        assert KopfLogFilter().filter(entry) is False
        assert entry.levelno == logging.DEBUG
    finally:
        logging.getLogger("kopf.objects").setLevel(logging.NOTSET)


def test_a_request_kopf_retries_is_a_warning_and_braid_is_untouched() -> None:
    retry = record(
        "kopf._cogs.clients.api", logging.ERROR, "Request attempt #1/9 failed; will retry"
    )
    assert KopfLogFilter().filter(retry) is True
    assert retry.levelname == "WARNING"
    ours = record("braid.operator", logging.INFO, "graph x: Ready is True (AllReady) succeeded.")
    assert KopfLogFilter().filter(ours) is True
    assert ours.levelno == logging.INFO
