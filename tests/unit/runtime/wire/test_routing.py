"""Power of two choices: the less loaded of two sampled replicas, and cooldown of dead ones."""

from __future__ import annotations

import asyncio
import random

import pytest

from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._wire.errors import ReplicaUnavailable
from braid.runtime._wire.routing import Buffer, Router


def test_no_replica_is_a_clear_error() -> None:
    router = Router(StaticDiscovery({"a": []}))
    with pytest.raises(ReplicaUnavailable, match='no ready replica of node "b"'):
        router.choose("b")


def test_the_less_loaded_of_two_is_chosen() -> None:
    router = Router(StaticDiscovery({"a": ["x:1", "y:2"]}), rng=random.Random(0))
    with router.tracking("x:1"), router.tracking("x:1"):
        picks = {router.choose("a") for _ in range(20)}
    assert picks == {"y:2"}


def test_load_spreads_across_replicas() -> None:
    router = Router(StaticDiscovery({"a": ["x:1", "y:2", "z:3"]}), rng=random.Random(1))
    counts = {"x:1": 0, "y:2": 0, "z:3": 0}
    held = []
    for _ in range(30):
        address = router.choose("a")
        counts[address] += 1
        block = router.tracking(address)
        block.__enter__()
        held.append(block)
    assert max(counts.values()) - min(counts.values()) <= 2  # p2c keeps loads within a couple
    for block in held:
        block.__exit__(None, None, None)
    assert all(router.in_flight(a) == 0 for a in counts)


def test_a_replica_marked_down_is_avoided_until_its_cooldown_ends() -> None:
    now = [0.0]
    router = Router(StaticDiscovery({"a": ["x:1", "y:2"]}), clock=lambda: now[0])
    router.mark_down("x:1")
    assert {router.choose("a") for _ in range(20)} == {"y:2"}
    now[0] = 10.0
    assert {router.choose("a") for _ in range(50)} == {"x:1", "y:2"}


def test_excluded_replicas_are_skipped() -> None:
    router = Router(StaticDiscovery({"a": ["x:1", "y:2"]}))
    assert router.choose("a", exclude=["x:1"]) == "y:2"


class _Appearing:
    """Discovery where node "a" gets its replica after a number of looks."""

    def __init__(self, looks: int) -> None:
        self.looks = looks

    def replicas(self, node: str) -> list[str]:
        self.looks -= 1
        return ["x:1"] if self.looks < 0 else []

    def failure(self, node: str) -> str | None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_a_request_waits_for_a_replica_of_a_node_that_has_none_ready() -> None:
    router = Router(_Appearing(looks=3))
    assert await router.wait_choose("a", deadline=None) == "x:1"


async def test_waiting_for_a_replica_ends_at_the_deadline_with_a_clear_error() -> None:
    ticks = iter(range(1000))  # a clock that moves one second each time it is read
    router = Router(StaticDiscovery({"a": []}), clock=lambda: float(next(ticks)))
    with pytest.raises(ReplicaUnavailable, match=r'no ready replica of node "a" \(waited \d'):
        await router.wait_choose("a", deadline=4.0)


async def test_a_retry_waits_for_a_replica_other_than_the_one_that_refused() -> None:
    # Both replicas restarting: "x:1" refused the call, "y:2" is back after a few looks.
    class Returning(_Appearing):
        def replicas(self, node: str) -> list[str]:
            self.looks -= 1
            return ["x:1", "y:2"] if self.looks < 0 else ["x:1"]

    router = Router(Returning(looks=3))
    router.mark_down("x:1")
    assert await router.wait_choose("a", deadline=None, exclude=["x:1"]) == "y:2"


async def test_held_requests_are_counted_and_bounded_per_node() -> None:
    router = Router(StaticDiscovery({"a": []}), buffers={"a": Buffer(limit=2, wait_seconds=None)})
    waiting = [asyncio.create_task(router.wait_choose("a", deadline=None)) for _ in range(2)]
    for _ in range(100):  # each waiting task registers at its first step
        if router.held() == {"a": 2}:
            break
        await asyncio.sleep(0.01)
    assert router.held() == {"a": 2}
    with pytest.raises(ReplicaUnavailable, match=r"2 requests are already held for it"):
        await router.wait_choose("a", deadline=None)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert router.held() == {}


async def test_a_node_that_failed_to_start_fails_its_held_requests_with_the_reason() -> None:
    class Failing(_Appearing):
        def failure(self, node: str) -> str | None:
            return 'no replica of node "a" could start: the constructor raised ValueError: x'

    router = Router(Failing(looks=100), buffers={"a": Buffer(wait_seconds=None)})
    with pytest.raises(ReplicaUnavailable, match=r"constructor raised ValueError: x"):
        await router.wait_choose("a", deadline=None)
    assert router.held() == {}


def test_a_call_for_a_model_goes_to_a_replica_that_holds_it() -> None:
    router = Router(StaticDiscovery({"a": ["x:1", "y:2", "z:3"]}), rng=random.Random(2))
    router.note_models("y:2", ["small", "large"])
    with router.tracking("y:2"), router.tracking("y:2"):  # busier, but it holds the model
        assert {router.choose("a", model_id="small") for _ in range(20)} == {"y:2"}
    assert router.holders("small") == ["y:2"]


def test_a_model_no_replica_holds_falls_back_to_the_less_loaded() -> None:
    router = Router(StaticDiscovery({"a": ["x:1", "y:2"]}), rng=random.Random(0))
    router.note_models("y:2", ["small"])
    with router.tracking("x:1"):
        assert {router.choose("a", model_id="other") for _ in range(20)} == {"y:2"}
    router.note_models("y:2", [])  # unloaded since
    assert router.holders("small") == []
