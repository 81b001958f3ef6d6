"""Errors of the data plane, and their translation to and from gRPC statuses.

Hierarchy::

    BraidRuntimeError              root of every error raised by braid.runtime
    ├── CodecError                 a value cannot be encoded or decoded
    ├── LoadError                  user code cannot be imported or constructed
    └── RequestError               a request failed; carries a gRPC code and an HTTP status
        ├── BadRequest             INVALID_ARGUMENT, 400: malformed input
        ├── NotFound               NOT_FOUND, 404: unknown route, graph or expired result
        ├── UserCodeError          INTERNAL, 500: user code raised; names node, step, type
        ├── UpstreamFailed         the code of the origin: a step's input failed upstream
        ├── Overloaded             RESOURCE_EXHAUSTED, 503: queue full; says when to retry
        ├── ReplicaUnavailable     UNAVAILABLE, 503: no ready replica, or it died mid-call
        ├── DeadlineExceeded       DEADLINE_EXCEEDED, 504: the request's deadline passed
        │   └── StepTimedOut       a step ran past its own timeoutSeconds
        ├── QuorumNotReached       UNAVAILABLE, 503: too few of a quorum join's inputs succeeded
        ├── Cancelled              CANCELLED, 499: the caller went away
        └── StreamingOutput        FAILED_PRECONDITION, 400: a streaming graph called for one
                                   value (gRPC Invoke, .result()); read it as a stream

A ``RequestError`` crosses a gRPC hop as a status code plus the trailing metadata entry
``braid-error-bin`` (JSON), so that the far side rebuilds the same error with the same node and
step, and an error body is never mistaken for a value.

Across handle calls an error keeps its kind: a callee's overload stays ``Overloaded`` in the
caller, its deadline ``DeadlineExceeded``. ``path`` lists the nodes it went through, caller
first (``front -> mid -> leaf``), and ``node`` stays the origin. A ``UserCodeError`` rebuilt
from a peer whose exception type is a Python built-in (``ZeroDivisionError``, ``KeyError``...)
is also an instance of that type, so ``except ZeroDivisionError`` works in the caller; for other
types, catch ``UserCodeError`` and read ``exc_type`` and ``exc_message``.
"""

from __future__ import annotations

import builtins
import functools
import json
from typing import Any, ClassVar

import grpc

ERROR_METADATA_KEY = "braid-error-bin"


class BraidRuntimeError(Exception):
    """Root of the errors raised by ``braid.runtime``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CodecError(BraidRuntimeError):
    """A value that braid's codec cannot encode or decode."""


class LoadError(BraidRuntimeError):
    """User code that cannot be imported, found or constructed; ``user_frames`` holds the
    traceback lines of the user's own files (none of braid's), each starting with a newline."""

    def __init__(self, message: str, *, user_frames: str = "") -> None:
        super().__init__(message)
        self.user_frames = user_frames


class RequestError(BraidRuntimeError):
    """A request that failed; subclasses fix the gRPC code and HTTP status."""

    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    http_status: ClassVar[int] = 500
    _kind: ClassVar[str] = ""  # set where the class name is not the kind (built-in mixes)

    def __init__(
        self, message: str, *, node: str = "", step: str = "", path: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.node = node
        self.step = step
        #: The nodes the error went through by handle calls, caller first, origin last.
        self.path = path

    @property
    def kind(self) -> str:
        """The error's kind, as in error bodies (``Overloaded``, ``UserCodeError``...)."""
        return self._kind or type(self).__name__

    def through(self, node: str, step: str = "") -> None:
        """Note that the error left ``node``'s code (a handle call it made failed)."""
        if not self.node:  # raised by the node's own code
            self.node = node
        elif (self.path[:1] or (self.node,)) != (node,):  # not when it comes back to this node
            self.path = (node, *(self.path or (self.node,)))
        self.step = self.step or step

    def where(self) -> str:
        """`` (path: a -> b -> c)`` when the error crossed handle calls, else nothing."""
        return f" (path: {' -> '.join(self.path)})" if len(self.path) > 1 else ""

    def details(self) -> dict[str, Any]:
        """The JSON-able details that cross a hop."""
        details: dict[str, Any] = {
            "kind": self.kind,
            "message": self.message,
            "node": self.node,
            "step": self.step,
        }
        if self.path:
            details["path"] = list(self.path)
        return details


class BadRequest(RequestError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class NotFound(RequestError):
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class UserCodeError(RequestError):
    """User code raised an exception while running a step or a handle call."""

    grpc_code = grpc.StatusCode.INTERNAL
    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        node: str = "",
        step: str = "",
        path: tuple[str, ...] = (),
        exc_type: str = "",
        exc_message: str = "",
    ) -> None:
        super().__init__(message, node=node, step=step, path=path)
        #: The name of the user's exception type, and its message (``str(exc)``).
        self.exc_type = exc_type
        self.exc_message = exc_message

    @classmethod
    def from_exception(
        cls, exc: BaseException, *, node: str, step: str, method: str
    ) -> UserCodeError:
        where = f'node "{node}"' + (f' (step "{step}")' if step else f' method "{method}"')
        text = str(exc) or "(no message)"
        return cls(
            f"{where} raised {type(exc).__name__}: {text}",
            node=node,
            step=step,
            exc_type=type(exc).__name__,
            exc_message=str(exc),
        )

    def details(self) -> dict[str, Any]:
        return {**super().details(), "type": self.exc_type, "exc_message": self.exc_message}


class UpstreamFailed(RequestError):
    """A step could not run because one of its inputs failed; keeps the origin's code."""

    def __init__(self, origin: RequestError, *, node: str = "", step: str = "") -> None:
        super().__init__(
            origin.message, node=origin.node or node, step=origin.step or step, path=origin.path
        )
        self.origin = origin


class Overloaded(RequestError):
    """A replica's queue is full: the caller should retry after ``retry_after`` seconds."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 503

    def __init__(
        self,
        message: str,
        *,
        node: str = "",
        step: str = "",
        path: tuple[str, ...] = (),
        retry_after: float = 1.0,
    ) -> None:
        super().__init__(message, node=node, step=step, path=path)
        self.retry_after = retry_after

    def details(self) -> dict[str, Any]:
        return {**super().details(), "retry_after": self.retry_after}


class ReplicaUnavailable(RequestError):
    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


class DeadlineExceeded(RequestError):
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504


class StepTimedOut(DeadlineExceeded):
    """One attempt of a step ran past the step's ``timeoutSeconds`` (not the request's
    deadline): retried on ``timeout``, replaced by an optional step's fallback."""


class QuorumNotReached(RequestError):
    """A quorum join could not go on: fewer than its ``min`` upstream steps can succeed."""

    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


class Cancelled(RequestError):
    grpc_code = grpc.StatusCode.CANCELLED
    http_status = 499


class StreamingOutput(RequestError):
    """A graph whose output is a generator was called for one value (gRPC ``Invoke``,
    ``GraphResponse.result()``): call it as a stream (``InvokeStream``, ``stream=True``)."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 400


_KINDS: dict[str, type[RequestError]] = {
    cls.__name__: cls
    for cls in (
        BadRequest,
        NotFound,
        UserCodeError,
        Overloaded,
        ReplicaUnavailable,
        DeadlineExceeded,
        StepTimedOut,
        QuorumNotReached,
        Cancelled,
        StreamingOutput,
    )
}
_BY_CODE: dict[grpc.StatusCode, type[RequestError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: BadRequest,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.INTERNAL: UserCodeError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Overloaded,
    grpc.StatusCode.UNAVAILABLE: ReplicaUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.FAILED_PRECONDITION: StreamingOutput,
}


def code_of(error: RequestError) -> grpc.StatusCode:
    """The gRPC code of ``error``; an upstream failure keeps its origin's code."""
    if isinstance(error, UpstreamFailed):
        return code_of(error.origin)
    return error.grpc_code


def http_status_of(error: RequestError) -> int:
    if isinstance(error, UpstreamFailed):
        return http_status_of(error.origin)
    return error.http_status


def origin_of(error: RequestError) -> RequestError:
    while isinstance(error, UpstreamFailed):
        error = error.origin
    return error


def error_metadata(error: RequestError) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata that carries ``error`` across a gRPC hop."""
    return ((ERROR_METADATA_KEY, json.dumps(origin_of(error).details()).encode()),)


def reached_peer(exc: grpc.aio.AioRpcError) -> bool:
    """Whether a braid process answered ``exc`` (it carries braid's error details)."""
    return any(key == ERROR_METADATA_KEY for key, _ in exc.trailing_metadata() or ())


def from_rpc_error(
    exc: grpc.aio.AioRpcError, *, address: str = "", node: str = "", step: str = ""
) -> RequestError:
    """Rebuild the braid error behind a failed RPC (``raise ... from exc`` at the call site)."""
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_METADATA_KEY:
            return error_from_details(value)
    error = _from_code(exc, address=address, node=node)
    error.step = step
    return error


def _from_code(exc: grpc.aio.AioRpcError, *, address: str, node: str) -> RequestError:
    code = exc.code()
    where = f' node "{node}"' if node else ""
    at = f" at {address}" if address else ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return ReplicaUnavailable(
            f"replica of{where or ' a node'}{at} is unavailable: {exc.details()}", node=node
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(
            f"deadline exceeded waiting for{where or ' a replica'}{at}", node=node
        )
    if code == grpc.StatusCode.CANCELLED:
        return Cancelled(f"call to{where or ' a replica'}{at} was cancelled", node=node)
    cls = _BY_CODE.get(code, RequestError)
    return cls(
        f"call to{where or ' a replica'}{at} failed ({code.name}): {exc.details()}", node=node
    )


def error_from_details(raw: bytes | str) -> RequestError:
    """The braid error that :func:`error_metadata` carries (its JSON details)."""
    try:
        details = json.loads(raw)
        cls = _KINDS.get(details.get("kind", ""), RequestError)
        node, step, message = details.get("node", ""), details.get("step", ""), details["message"]
        path = tuple(str(name) for name in details.get("path", ()))
    except (ValueError, KeyError, TypeError, AttributeError):
        return RequestError(f"malformed error details from a peer: {raw!r:.200}")
    if cls is UserCodeError:
        exc_type = str(details.get("type", ""))
        return _user_error_class(exc_type)(
            message,
            node=node,
            step=step,
            path=path,
            exc_type=exc_type,
            exc_message=str(details.get("exc_message", "")),
        )
    if cls is Overloaded:
        return Overloaded(
            message,
            node=node,
            step=step,
            path=path,
            retry_after=float(details.get("retry_after", 1.0)),
        )
    return cls(message, node=node, step=step, path=path)


def _message(error: BraidRuntimeError) -> str:
    return error.message  # KeyError and others would quote it


@functools.cache
def _user_error_class(exc_type: str) -> type[UserCodeError]:
    """``UserCodeError``, also a subclass of the built-in exception ``exc_type`` if it is one."""
    builtin = getattr(builtins, exc_type, None)
    if not isinstance(builtin, type) or not issubclass(builtin, Exception):
        return UserCodeError
    try:
        return type(
            exc_type,
            (UserCodeError, builtin),
            {"__module__": __name__, "_kind": "UserCodeError", "__str__": _message},
        )
    except TypeError:  # a built-in with its own instance layout (OSError...): the plain kind
        return UserCodeError
