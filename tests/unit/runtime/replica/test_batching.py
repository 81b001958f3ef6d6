"""Dynamic batching: batch assembly and splitting, and the batcher's per-call errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from braid.runtime._replica.batching import (
    Batcher,
    BatchResultError,
    Pending,
    split_results,
    take_batch,
)
from braid.runtime._wire.errors import UserCodeError


def _pending(item: Any, model_id: str = "") -> Pending:
    return Pending(item, asyncio.get_running_loop().create_future(), f"s{item}", model_id)


async def test_a_batch_takes_the_oldest_calls_up_to_the_size() -> None:
    pending = [_pending(i) for i in range(5)]
    batch = take_batch(pending, 3)
    assert [entry.item for entry in batch] == [0, 1, 2]
    assert [entry.item for entry in pending] == [3, 4]


async def test_calls_whose_caller_gave_up_are_left_out() -> None:
    pending = [_pending(i) for i in range(4)]
    pending[0].future.cancel()
    pending[2].future.cancel()
    assert [entry.item for entry in take_batch(pending, 8)] == [1, 3]
    assert pending == []


async def test_a_batch_holds_one_model() -> None:
    pending = [_pending(0, "a"), _pending(1, "b"), _pending(2, "a")]
    assert [entry.item for entry in take_batch(pending, 8)] == [0, 2]
    assert [entry.item for entry in take_batch(pending, 8)] == [1]
    assert take_batch(pending, 8) == []


def test_results_split_one_per_call() -> None:
    assert split_results([1, 2], 2) == [1, 2]
    assert split_results((1, 2), 2) == [1, 2]


@pytest.mark.parametrize(
    ("results", "why"),
    [
        ([1], "returned 1 results for a batch of 2 calls"),
        ({"a": 1, "b": 2}, "returned dict for a batch of 2 calls"),
        ("ab", "returned str"),
        (None, "returned NoneType"),
    ],
)
def test_a_wrong_result_says_what_came_back(results: Any, why: str) -> None:
    with pytest.raises(BatchResultError, match=why):
        split_results(results, 2)


async def _gathered(batcher: Batcher, items: list[Any]) -> list[Any]:
    calls = [batcher.submit(item, step=f"step{item}") for item in items]
    return await asyncio.gather(*calls, return_exceptions=True)


async def test_concurrent_calls_run_as_one_batch() -> None:
    seen: list[list[Any]] = []

    async def run(items: list[Any], model_id: str, steps: list[str]) -> list[Any]:
        seen.append(items)
        return [item * 10 for item in items]

    batcher = Batcher(run, node="n", method="m", max_size=3, wait_seconds=60)
    assert await _gathered(batcher, [1, 2, 3]) == [10, 20, 30]
    assert seen == [[1, 2, 3]]


async def test_a_raising_method_fails_each_call_with_its_own_step() -> None:
    async def run(items: list[Any], model_id: str, steps: list[str]) -> list[Any]:
        raise ValueError("bad batch")

    batcher = Batcher(run, node="n", method="m", max_size=2, wait_seconds=60)
    errors = await _gathered(batcher, [1, 2])
    assert all(isinstance(error, UserCodeError) for error in errors)
    assert [error.step for error in errors] == ["step1", "step2"]
    assert errors[0].message == 'node "n" (step "step1") raised ValueError: bad batch'


async def test_a_wrong_length_fails_the_batch_clearly() -> None:
    async def run(items: list[Any], model_id: str, steps: list[str]) -> list[Any]:
        return items[:1]

    batcher = Batcher(run, node="n", method="m", max_size=2, wait_seconds=60)
    errors = await _gathered(batcher, [1, 2])
    assert all(isinstance(error, UserCodeError) for error in errors)
    assert errors[1].message == (
        'node "n" (step "step2"): batched method "m" returned 1 results for a batch of 2 '
        "calls; return one result per call, in order"
    )


async def test_a_cancelled_call_is_dropped_and_the_others_are_served() -> None:
    seen: list[list[Any]] = []
    release = asyncio.Event()

    async def run(items: list[Any], model_id: str, steps: list[str]) -> list[Any]:
        seen.append(items)
        await release.wait()
        return items

    batcher = Batcher(run, node="n", method="m", max_size=3, wait_seconds=60)
    first = asyncio.create_task(batcher.submit("late", step="a"))
    await asyncio.sleep(0)
    first.cancel()  # its deadline passed while it waited
    others = [asyncio.create_task(batcher.submit(item, step="b")) for item in (1, 2, 3)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*others) == [1, 2, 3]
    assert seen == [[1, 2, 3]]
    assert first.cancelled()
    await batcher.close()


async def test_a_call_cancelled_while_its_batch_runs_leaves_the_others_alone() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def run(items: list[Any], model_id: str, steps: list[str]) -> list[Any]:
        started.set()
        await release.wait()
        return items

    batcher = Batcher(run, node="n", method="m", max_size=2, wait_seconds=60)
    calls = [asyncio.create_task(batcher.submit(item, step="s")) for item in (1, 2)]
    await started.wait()
    calls[0].cancel()
    release.set()
    assert await calls[1] == 2
    assert calls[0].cancelled()


async def test_a_partial_batch_starts_after_the_wait() -> None:
    async def run(items: list[Any], model_id: str, steps: list[str]) -> list[Any]:
        return [len(items)] * len(items)

    batcher = Batcher(run, node="n", method="m", max_size=8, wait_seconds=0.01)
    assert await _gathered(batcher, [1, 2]) == [2, 2]
