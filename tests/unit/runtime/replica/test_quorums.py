"""gather_quorum: a join's inputs under a quorum, with real asyncio tasks (no timed asserts:
"slow" inputs wait on events that the test never sets, and are cancelled)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from braid.runtime._proto.braid_pb2 import CallRequest, FlowQuorum, Upstream
from braid.runtime._replica.quorums import gather_quorum, source_of
from braid.runtime._wire.errors import (
    DeadlineExceeded,
    QuorumNotReached,
    StepTimedOut,
    UpstreamFailed,
    UserCodeError,
)

SOURCES = {0: "a", 1: "b", 2: "c"}


async def value(result: Any) -> Any:
    await asyncio.sleep(0)
    return result


async def failing(error: Exception) -> Any:
    await asyncio.sleep(0)
    raise error


async def hanging(cancelled: list[str], name: str) -> Any:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled.append(name)
        raise


def failed(step: str) -> UpstreamFailed:
    return UpstreamFailed(UserCodeError(f"{step} raised", node="n", step=step), step="join")


async def gather(work: dict[int, Any], quorum: FlowQuorum) -> Any:
    return await gather_quorum(work, SOURCES, quorum, node="n", step="join")


def test_without_within_it_goes_on_once_min_succeeded_and_cancels_the_rest() -> None:
    async def main() -> tuple[Any, list[str]]:
        cancelled: list[str] = []
        work = {0: value(1), 1: value(2), 2: hanging(cancelled, "c")}
        return await gather(work, FlowQuorum(min=2)), cancelled

    outcome, cancelled = asyncio.run(main())
    assert outcome.found == {0: 1, 1: 2}
    assert outcome.missing == {"c": "did not answer in time"}
    assert cancelled == ["c"]


def test_with_within_it_waits_for_every_input_that_answers() -> None:
    async def main() -> Any:
        return await gather({0: value(1), 1: value(2), 2: value(3)}, FlowQuorum(min=2, within=60))

    outcome = asyncio.run(main())
    assert outcome.found == {0: 1, 1: 2, 2: 3}
    assert outcome.missing == {}


def test_with_within_a_hanging_input_is_missing_once_within_passed() -> None:
    async def main() -> Any:
        work = {0: value(1), 1: value(2), 2: hanging([], "c")}
        return await gather(work, FlowQuorum(min=2, within=0.05))

    outcome = asyncio.run(main())
    assert sorted(outcome.found) == [0, 1]
    assert list(outcome.missing) == ["c"]


def test_a_failed_input_or_its_own_timeout_is_missing() -> None:
    async def main() -> Any:
        timed_out = StepTimedOut("c ran past its timeoutSeconds", node="n", step="c")
        work = {0: value(1), 1: failing(failed("b")), 2: failing(timed_out)}
        return await gather(work, FlowQuorum(min=1, within=60))

    outcome = asyncio.run(main())
    assert outcome.found == {0: 1}
    assert outcome.missing == {
        "b": "failed: b raised",
        "c": "failed: c ran past its timeoutSeconds",
    }


def test_a_quorum_out_of_reach_fails_at_once_naming_the_failures() -> None:
    async def main() -> Any:
        work = {0: failing(failed("a")), 1: failing(failed("b")), 2: hanging([], "c")}
        return await gather(work, FlowQuorum(min=2))

    with pytest.raises(QuorumNotReached) as caught:
        asyncio.run(main())
    assert (caught.value.node, caught.value.step) == ("n", "join")
    assert '"a" failed: a raised' in caught.value.message
    assert "only 1 can still succeed" in caught.value.message


def test_the_requests_deadline_fails_the_join() -> None:
    async def main() -> Any:
        work = {0: value(1), 1: failing(DeadlineExceeded("late")), 2: value(3)}
        return await gather(work, FlowQuorum(min=2, within=60))

    with pytest.raises(DeadlineExceeded):
        asyncio.run(main())


def test_entries_of_one_step_count_once_and_need_all_its_entries() -> None:
    async def main() -> Any:
        work = {0: value("a.x"), 1: value("a.y"), 2: hanging([], "b")}
        sources = {0: "a", 1: "a", 2: "b"}
        return await gather_quorum(work, sources, FlowQuorum(min=1), node="n", step="join")

    outcome = asyncio.run(main())
    assert outcome.found == {0: "a.x", 1: "a.y"}
    assert list(outcome.missing) == ["b"]


def test_the_source_of_an_entry_is_its_step() -> None:
    assert source_of(Upstream(key="req/by-length")) == "by-length"
    assert source_of(Upstream(call=CallRequest(step="leaf"))) == "leaf"
