"""braid.request_context(): what node code reads about its request, and the response headers
it may set."""

from __future__ import annotations

import time

import pytest

import braid
from braid.runtime._replica.handles import CallContext, current_call


def test_outside_a_call_there_is_no_context() -> None:
    with pytest.raises(LookupError, match="inside a node's method"):
        braid.request_context()


def test_inside_a_call_the_context_reads_the_request() -> None:
    out: dict[str, str] = {}
    call = CallContext(
        "abc",
        time.monotonic() + 30,
        "step1",
        headers={"x-tenant": "acme"},
        response_headers=out,
    )
    token = current_call.set(call)
    try:
        context = braid.request_context()
        assert (context.request_id, context.step, context.model_id) == ("abc", "step1", "")
        assert dict(context.headers) == {"x-tenant": "acme"}
        with pytest.raises(TypeError):
            context.headers["x-other"] = "no"  # type: ignore[index]
        left = context.deadline_remaining
        assert left is not None and 0 < left <= 30
        context.set_response_header("X-Model-Version", "v2")
        assert out == {"x-model-version": "v2"}
    finally:
        current_call.reset(token)


def test_a_passed_deadline_leaves_zero_and_none_means_no_deadline() -> None:
    token = current_call.set(CallContext("abc", time.monotonic() - 5))
    try:
        assert braid.request_context().deadline_remaining == 0.0
    finally:
        current_call.reset(token)
    token = current_call.set(CallContext("abc", None))
    try:
        assert braid.request_context().deadline_remaining is None
    finally:
        current_call.reset(token)


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("content-type", "text/plain", "set by braid or the protocol"),
        ("grpc-status", "0", "set by braid or the protocol"),
        ("braid-error", "x", "set by braid or the protocol"),
        ("x-data-bin", "x", "set by braid or the protocol"),
        ("bad name", "x", "is not a header name"),
        ("x-ok", "line\nbreak", "printable ASCII"),
        ("x-ok", "é", "printable ASCII"),
        ("x-ok", "v" * 8193, "printable ASCII"),
    ],
)
def test_node_code_may_not_set_framing_or_protocol_headers(name: str, value: str, why: str) -> None:
    out: dict[str, str] = {}
    token = current_call.set(CallContext("abc", None, response_headers=out))
    try:
        with pytest.raises(ValueError, match=why):
            braid.request_context().set_response_header(name, value)
    finally:
        current_call.reset(token)
    assert out == {}
