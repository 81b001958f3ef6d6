"""How a step survives failures: soft steps with fallbacks, retries, quorum joins.

These are the shapes of the fields; the checks that need the rest of the graph (a fallback
call's node, a quorum's upstream steps, idempotent methods) live in
:mod:`braid.spec._resilience_rules`. The runtime's side is in ``braid/runtime/_replica/
guarding.py`` and ``quorums.py`` (docs/decisions/0021-partial-failures.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from braid.spec._base import SpecModel
from braid.spec._types import JsonValue

#: The longest a step's timeout, retry backoff or budget may be: longer than any sane request.
MAX_STEP_SECONDS = 3600.0
#: Most attempts a step may make: beyond a handful, retries only hide a broken node.
MAX_ATTEMPTS = 10


class Fallback(SpecModel):
    """What an optional step's consumers get when it fails: a value, or the result of another
    call with the same arguments."""

    value: JsonValue = Field(
        default=None, description="The value consumers get instead (JSON); null when unset."
    )
    call: str | None = Field(
        default=None,
        description='A call, "node.method", made with the step\'s own arguments; its result '
        "stands in for the step's (a failing fallback call fails the step).",
    )

    @model_validator(mode="after")
    def _one_of(self) -> Fallback:
        if self.call is not None and self.value is not None:
            raise ValueError('set "value" or "call", not both')
        return self


class RetryOn(StrEnum):
    """Failures a step may be retried on."""

    #: The replica refused the call or could not be reached; the node's code never ran.
    UNAVAILABLE = "unavailable"
    #: The replica's queue was full (RESOURCE_EXHAUSTED); the node's code never ran.
    OVERLOADED = "overloaded"
    #: The attempt ran past the step's ``timeoutSeconds``; the code ran (needs idempotent).
    TIMEOUT = "timeout"
    #: The node's code raised; the code ran (needs idempotent).
    ERROR = "error"


#: Failures after which the node's code may have run, so a retry needs an idempotent method.
REACHES_CODE = frozenset({RetryOn.TIMEOUT, RetryOn.ERROR})


class Retries(SpecModel):
    """Retries of one step: each attempt after the first goes to another replica if any."""

    attempts: int = Field(
        ge=1,
        le=MAX_ATTEMPTS,
        description="Attempts in all, the first one included (1: no retry).",
    )
    backoff_seconds: float = Field(
        default=0.05,
        ge=0,
        le=MAX_STEP_SECONDS,
        description="Pause before the first retry; it doubles for each later one.",
    )
    max_backoff_seconds: float = Field(
        default=1.0, gt=0, le=MAX_STEP_SECONDS, description="Longest pause between attempts."
    )
    # Not "on": YAML 1.1 reads a bare ``on`` key as the boolean true.
    retry_on: list[Annotated[RetryOn, Field(strict=False)]] = Field(
        default_factory=lambda: [RetryOn.UNAVAILABLE, RetryOn.OVERLOADED],
        min_length=1,
        description="Failures that are retried: unavailable, overloaded, timeout, error. "
        "timeout and error need an idempotent method (spec.nodes[].methods[].idempotent).",
    )
    budget_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_STEP_SECONDS,
        description="Most time the step spends in all its attempts and pauses; never past the "
        "request's deadline (which bounds it when unset).",
    )


class Quorum(SpecModel):
    """A join that goes on with some of its upstream steps: the missing ones are null."""

    min: int = Field(ge=1, description="Upstream steps that must succeed.")
    within_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_STEP_SECONDS,
        description="Wait this long for every upstream step, then go on with those that "
        "succeeded (once at least min did). Unset: go on as soon as min succeeded.",
    )
    missing_argument: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="A keyword argument that receives the names of the missing upstream steps.",
    )
