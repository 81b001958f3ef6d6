"""Errors cross a gRPC hop intact: same kind, node, step and retry hint."""

from __future__ import annotations

import grpc
import pytest

from braid.runtime._wire.errors import (
    ERROR_METADATA_KEY,
    Overloaded,
    ReplicaUnavailable,
    RequestError,
    UpstreamFailed,
    UserCodeError,
    code_of,
    error_metadata,
    from_rpc_error,
    http_status_of,
)


class FakeRpcError(grpc.aio.AioRpcError):
    def __init__(
        self, code: grpc.StatusCode, details: str, metadata: tuple[tuple[str, bytes], ...] = ()
    ) -> None:
        super().__init__(code, grpc.aio.Metadata(), grpc.aio.Metadata(*metadata), details)


def test_user_code_errors_name_node_step_and_type() -> None:
    error = UserCodeError.from_exception(ValueError("bad"), node="adder", step="sum", method="add")
    assert str(error) == 'node "adder" (step "sum") raised ValueError: bad'


@pytest.mark.parametrize(
    "error",
    [
        UserCodeError(
            'node "a" (step "s") raised KeyError: x', node="a", step="s", exc_type="KeyError"
        ),
        Overloaded("full", node="a", retry_after=2.5),
    ],
)
def test_errors_round_trip_through_trailing_metadata(error: RequestError) -> None:
    rebuilt = from_rpc_error(FakeRpcError(code_of(error), error.message, error_metadata(error)))
    assert isinstance(rebuilt, type(error))
    assert rebuilt.details() == error.details()


def test_a_rebuilt_user_error_is_also_its_builtin_type() -> None:
    error = UserCodeError.from_exception(
        ZeroDivisionError("division by zero"), node="leaf", step="", method="div"
    )
    rebuilt = from_rpc_error(FakeRpcError(code_of(error), error.message, error_metadata(error)))
    assert isinstance(rebuilt, ZeroDivisionError) and isinstance(rebuilt, UserCodeError)
    assert (rebuilt.kind, rebuilt.exc_type, rebuilt.exc_message) == (
        "UserCodeError",
        "ZeroDivisionError",
        "division by zero",
    )
    assert str(rebuilt) == error.message


def test_a_rebuilt_user_error_of_a_user_type_is_a_plain_user_error() -> None:
    error = UserCodeError("m", node="leaf", exc_type="ModelError", exc_message="bad")
    rebuilt = from_rpc_error(FakeRpcError(code_of(error), error.message, error_metadata(error)))
    assert type(rebuilt) is UserCodeError
    assert (rebuilt.exc_type, rebuilt.exc_message) == ("ModelError", "bad")


def test_an_error_through_handle_calls_keeps_its_kind_and_names_the_path() -> None:
    error = Overloaded("leaf is full", node="leaf", retry_after=2.0)
    error.through("mid")
    error.through("mid")  # back through the same node (a response passed by reference)
    error.through("front", "answer")
    rebuilt = from_rpc_error(FakeRpcError(code_of(error), error.message, error_metadata(error)))
    assert isinstance(rebuilt, Overloaded)
    assert (rebuilt.node, rebuilt.step, rebuilt.path) == (
        "leaf",
        "answer",
        ("front", "mid", "leaf"),
    )
    assert rebuilt.where() == " (path: front -> mid -> leaf)"


def test_an_error_raised_by_a_nodes_own_code_gets_its_node() -> None:
    error = Overloaded("busy")
    error.through("front", "answer")
    assert (error.node, error.step, error.path) == ("front", "answer", ())


def test_an_upstream_failure_keeps_the_origin_code_and_names() -> None:
    origin = UserCodeError("boom", node="a", step="s")
    wrapped = UpstreamFailed(origin, node="b", step="t")
    assert code_of(wrapped) == grpc.StatusCode.INTERNAL
    assert http_status_of(wrapped) == 500
    assert (wrapped.node, wrapped.step) == ("a", "s")


def test_a_plain_unavailable_status_becomes_replica_unavailable() -> None:
    error = from_rpc_error(
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect"), address="h:1", node="a"
    )
    assert isinstance(error, ReplicaUnavailable)
    assert "h:1" in str(error)


def test_malformed_error_details_do_not_crash() -> None:
    error = from_rpc_error(
        FakeRpcError(grpc.StatusCode.INTERNAL, "x", ((ERROR_METADATA_KEY, b"{nope"),))
    )
    assert "malformed error details" in str(error)
