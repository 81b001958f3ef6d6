"""The result store: waiting fetches, consumer counts, errors, paths, expiry and its bound."""

from __future__ import annotations

import asyncio

import pytest

from braid.runtime._replica.result_store import ResultStore
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import DeadlineExceeded, Overloaded, UserCodeError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_fetch_waits_until_the_result_is_put() -> None:
    store = ResultStore()
    fetch = asyncio.create_task(store.fetch("r/a", [], timeout=5))
    await asyncio.sleep(0)
    assert not fetch.done()
    store.put("r/a", encode(41), consumers=1)
    assert decode(await fetch) == 41


async def test_the_result_is_dropped_after_its_last_consumer() -> None:
    store = ResultStore()
    store.put("r/a", encode("x"), consumers=2)
    await store.fetch("r/a", [], timeout=1)
    assert len(store) == 1
    await store.fetch("r/a", [], timeout=1)
    assert len(store) == 0
    assert store.bytes_held == 0


async def test_a_stored_error_is_raised_to_every_consumer() -> None:
    store = ResultStore()
    error = UserCodeError('node "a" (step "s") raised ValueError: no', node="a", step="s")
    store.put_error("r/s", error, consumers=2)
    for _ in range(2):
        with pytest.raises(UserCodeError) as raised:
            await store.fetch("r/s", [], timeout=1)
        assert raised.value.node == "a"


async def test_a_path_picks_a_field() -> None:
    store = ResultStore()
    store.put("r/a", encode({"language": "fr", "boxes": [[1, 2]]}), consumers=2)
    assert decode(await store.fetch("r/a", ["language"], timeout=1)) == "fr"
    assert decode(await store.fetch("r/a", ["boxes", "0", "1"], timeout=1)) == 2


async def test_a_fetch_gives_up_at_its_timeout() -> None:
    store = ResultStore()
    with pytest.raises(DeadlineExceeded):
        await store.fetch("r/never", [], timeout=0.01)


async def test_entries_expire() -> None:
    clock = FakeClock()
    store = ResultStore(ttl=10, clock=clock)
    store.put("r/a", encode(1), consumers=1)
    clock.now = 11
    assert store.expire() == 1
    assert len(store) == 0


async def test_the_store_refuses_results_beyond_its_bound() -> None:
    store = ResultStore(max_bytes=100)
    store.put("r/a", encode(b"x" * 60), consumers=1)
    with pytest.raises(Overloaded, match="result store full"):
        store.put("r/b", encode(b"y" * 60), consumers=1)
