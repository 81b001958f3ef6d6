"""The Guard's decisions: which failures are retried, where, within what budget, and when an
optional step falls back. A scripted client stands in for other replicas (the real processes
are in tests/integration/runtime/test_partial_failures.py); the clock is a fake one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from braid.runtime._proto.braid_pb2 import CallReply, CallRequest, FlowGuard, Payload
from braid.runtime._replica.arguments import Arguments, EncodedResult
from braid.runtime._replica.guarding import Guard
from braid.runtime._wire.codec import encode
from braid.runtime._wire.errors import (
    DeadlineExceeded,
    Overloaded,
    ReplicaUnavailable,
    StepTimedOut,
    UpstreamFailed,
    UserCodeError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class Router:
    def __init__(self, replicas: list[str]) -> None:
        self.replicas = replicas

    def choose(self, node: str, *, exclude: Any = ()) -> str:
        left = [r for r in self.replicas if r not in exclude]
        if not left:
            raise ReplicaUnavailable("none")
        return left[0]


class Client:
    """Answers each call with the next scripted outcome, noting where it went."""

    def __init__(self, outcomes: list[Any], replicas: list[str]) -> None:
        self.outcomes = outcomes
        self.router = Router(replicas)
        self.calls: list[tuple[str, str | None]] = []

    async def call(self, request: CallRequest, *, deadline: Any, address: Any = None) -> Any:
        self.calls.append((f"{request.node}.{request.method}", address))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return address, CallReply(result=encode(outcome))


def run(
    guard: FlowGuard, local: list[Any], remote: list[Any], replicas: list[str] | None = None
) -> tuple[Any, Any, Client, Clock]:
    clock = Client_clock = Clock()
    client = Client(remote, replicas if replicas is not None else ["here", "there"])
    subject = Guard(node="n", address="here", client=client, clock=Client_clock, sleep=clock.sleep)  # type: ignore[arg-type]
    request = CallRequest(step="s", node="n", method="m", guard=guard)
    arguments = Arguments(encode([[1], {}]))

    async def attempt(until: float | None) -> Any:
        outcome = local.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    value, degraded = asyncio.run(subject.run(request, arguments, clock.now + 60, attempt))
    if isinstance(value, EncodedResult):
        value = value.value()
    return value, degraded, client, clock


def error(text: str = "boom") -> UserCodeError:
    return UserCodeError(text, node="n", step="s")


def test_an_error_is_retried_on_another_replica_for_an_idempotent_method() -> None:
    guard = FlowGuard(attempts=3, retry_on=["error"], idempotent=True, backoff=0.1)
    value, degraded, client, clock = run(guard, [error()], ["second"])
    assert (value, degraded) == ("second", None)
    assert client.calls == [("n.m", "there")]
    assert clock.now == pytest.approx(100.1)


def test_an_error_is_not_retried_for_a_method_that_is_not_idempotent() -> None:
    guard = FlowGuard(attempts=3, retry_on=["error"])
    with pytest.raises(UserCodeError):
        run(guard, [error()], [])


def test_overload_is_retried_without_idempotence_and_on_this_replica_if_alone() -> None:
    guard = FlowGuard(attempts=2, retry_on=["overloaded"])
    value, _, client, _ = run(guard, [Overloaded("full")], ["ok"], replicas=["here"])
    assert value == "ok"
    assert client.calls == [("n.m", "here")]


def test_the_budget_stops_the_retries_and_says_so() -> None:
    guard = FlowGuard(
        attempts=10, retry_on=["error"], idempotent=True, backoff=0.4, max_backoff=10, budget=1
    )
    with pytest.raises(UserCodeError) as caught:
        run(guard, [error()], [error(), error()])
    # attempt at 0, pause 0.4, attempt, pause 0.8 would end past the 1 s budget.
    assert "after 2 attempts; its retry budget ran out" in caught.value.message


def test_an_optional_step_falls_back_to_its_value_after_its_attempts() -> None:
    guard = FlowGuard(
        attempts=2, retry_on=["error"], idempotent=True, optional=True, fallback_value=encode(7)
    )
    value, degraded, _, _ = run(guard, [error("first")], [error("second")])
    assert value == 7
    assert (degraded.step, degraded.reason) == ("s", "fallback")
    assert "second (after 2 attempts; no attempt is left)" in degraded.message


def test_an_optional_step_without_a_fallback_gives_null() -> None:
    value, degraded, _, _ = run(FlowGuard(optional=True), [error()], [])
    assert value is None and degraded is not None


def test_a_fallback_call_gets_the_arguments_and_its_result_stands_in() -> None:
    guard = FlowGuard(optional=True, fallback_node="spare", fallback_method="rescue")
    value, degraded, client, _ = run(guard, [error()], ["rescued"])
    assert value == "rescued" and degraded is not None
    assert client.calls == [("spare.rescue", None)]


def test_a_timeout_of_the_step_is_named_as_such() -> None:
    guard = FlowGuard(timeout=0.5, optional=False)
    with pytest.raises(StepTimedOut, match=r"ran past its timeoutSeconds \(0.5 s\)"):
        run(guard, [DeadlineExceeded("still running")], [])


def test_a_failed_input_is_never_retried_nor_replaced() -> None:
    guard = FlowGuard(attempts=3, retry_on=["error"], idempotent=True, optional=True)
    with pytest.raises(UpstreamFailed):
        run(guard, [UpstreamFailed(UserCodeError("up", node="u", step="u"))], [])


def test_the_requests_deadline_is_never_replaced() -> None:
    clock = Clock()
    subject = Guard(node="n", address="here", client=Client([], ["here"]), clock=clock)  # type: ignore[arg-type]
    request = CallRequest(step="s", node="n", method="m", guard=FlowGuard(optional=True))

    async def attempt(until: float | None) -> Any:
        clock.now = 200.0  # past the request's deadline (160)
        raise DeadlineExceeded("still running at the deadline")

    with pytest.raises(DeadlineExceeded):
        asyncio.run(subject.run(request, Arguments(Payload()), clock.now + 60, attempt))
