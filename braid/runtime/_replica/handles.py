"""Handles and responses: how user code calls other nodes, in the manner of Ray Serve.

A node that lists ``handles: [fruit]`` receives a :class:`Handle` as the constructor argument
``fruit``. ``fruit.classify.remote(image)`` sends the call at once and returns a
:class:`Response`, a future that can be awaited (``await r``), waited on from sync code
(``r.result()``), or passed into another call without awaiting it:

- passed as a top-level argument, it is resolved before the callee's method runs (chaining);
  the callee's sidecar fetches the value from this one as soon as it is ready;
- nested inside a list or dict, it arrives as a response the callee awaits itself
  (pass by reference), so the callee starts before the value exists.

``fruit.options(stream=True).count.remote(10)`` returns a :class:`StreamingResponse` to iterate
with ``async for`` (or ``for`` from sync code). Every call carries the current request's id and
deadline, taken from a context variable that the sidecar sets for each request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from braid.runtime._wire.errors import BadRequest


@dataclass(frozen=True, slots=True)
class CallContext:
    """The request a piece of user code is serving: its id and absolute deadline, and for a
    multiplexed node the model it is for; the request headers the graph lets through, and the
    response headers the code sets (read back by the sidecar once the call is done)."""

    request_id: str
    deadline: float | None
    step: str = ""
    model_id: str = ""
    model: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)


current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "braid_call", default=None
)


def get_model_id() -> str:
    """The model id of the call being served by a multiplexed node ("" when it names none).

    Set from the request's ``braid-model-id`` header (HTTP) or metadata (gRPC), the flow step's
    ``modelId``, or ``handle.options(model_id=...)``.
    """
    context = current_call.get()
    return context.model_id if context is not None else ""


def get_model() -> Any:
    """The model the call being served is for, as the node's loader returned it.

    Raises :class:`LookupError` outside a call that names a model of a multiplexed node.
    """
    context = current_call.get()
    if context is None or not context.model_id:
        raise LookupError(
            "get_model(): this call names no model; send a braid-model-id header, set the "
            "step's modelId or call with handle.options(model_id=...)"
        )
    return context.model


def new_response_id() -> str:
    """A unique id for a handle response (the key its value is served under)."""
    return uuid.uuid4().hex


class HandleCaller(Protocol):
    """What handles need from the sidecar: send a call, or a streaming call."""

    loop: asyncio.AbstractEventLoop

    async def call(
        self,
        node: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: CallContext | None,
        *,
        model_id: str = "",
    ) -> Any: ...

    def stream(
        self,
        node: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: CallContext | None,
        *,
        model_id: str = "",
    ) -> AsyncIterator[Any]: ...


class Response:
    """A future for the result of a handle call (or of an upstream step, by reference)."""

    def __init__(
        self, coroutine: Awaitable[Any], loop: asyncio.AbstractEventLoop, *, node: str
    ) -> None:
        self.id = new_response_id()
        self.node = node
        self._loop = loop
        if _on_loop(loop):
            self._future: asyncio.Future[Any] = asyncio.ensure_future(coroutine)
        else:
            self._future = asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(_wrap(coroutine), loop), loop=loop
            )

    def __await__(self) -> Generator[Any, None, Any]:
        return self._future.__await__()

    def done(self) -> bool:
        return self._future.done()

    def cancel(self) -> bool:
        if _on_loop(self._loop):
            return self._future.cancel()
        self._loop.call_soon_threadsafe(self._future.cancel)
        return True

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the value from sync code (a thread); in async code, ``await`` instead."""
        if _on_loop(self._loop):
            raise BadRequest("Response.result() would block the event loop; use `await response`")
        waiter: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
            _await(self._future), self._loop
        )
        return waiter.result(timeout)

    @property
    def future(self) -> asyncio.Future[Any]:
        return self._future


async def _wrap(coroutine: Awaitable[Any]) -> Any:
    return await coroutine


async def _await(future: asyncio.Future[Any]) -> Any:
    return await future


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class StreamingResponse:
    """The items of a streaming handle call: ``async for`` (or ``for`` from a thread)."""

    def __init__(self, items: AsyncIterator[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._items = items
        self._loop = loop

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items

    def __iter__(self) -> Iterator[Any]:
        if _on_loop(self._loop):
            raise BadRequest("iterate a streaming response with `async for` in async code")
        while True:
            future = asyncio.run_coroutine_threadsafe(_next(self._items), self._loop)
            done, item = future.result()
            if done:
                return
            yield item


async def _next(items: AsyncIterator[Any]) -> tuple[bool, Any]:
    try:
        return False, await items.__anext__()
    except StopAsyncIteration:
        return True, None


class MethodHandle:
    """``handle.method``: call it with ``.remote(...)``."""

    def __init__(
        self, caller: HandleCaller, node: str, method: str, *, stream: bool, model_id: str = ""
    ) -> None:
        self._caller, self._node, self._method, self._stream = caller, node, method, stream
        self._model_id = model_id

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Send the call now; returns a :class:`Response` (or :class:`StreamingResponse`)."""
        context = current_call.get()
        model = self._model_id
        if self._stream:
            return StreamingResponse(
                self._caller.stream(
                    self._node, self._method, args, kwargs, context, model_id=model
                ),
                self._caller.loop,
            )
        return Response(
            self._caller.call(self._node, self._method, args, kwargs, context, model_id=model),
            self._caller.loop,
            node=self._node,
        )

    def __repr__(self) -> str:
        return f"<braid handle {self._node}.{self._method}>"


class Handle:
    """A node's handle: ``handle.method.remote(...)``, ``handle.remote(...)`` for ``__call__``."""

    def __init__(
        self, caller: HandleCaller, node: str, *, stream: bool = False, model_id: str = ""
    ) -> None:
        self._caller, self._node, self._stream = caller, node, stream
        self._model_id = model_id

    @property
    def node(self) -> str:
        return self._node

    def options(self, *, stream: bool = False, model_id: str = "") -> Handle:
        """A copy of this handle with other call options: ``stream=True`` for generators,
        ``model_id="..."`` for the model of a multiplexed node."""
        if not isinstance(stream, bool):
            raise TypeError(
                f'handle to node "{self._node}": options(stream=...) takes True or False, '
                f"not {stream!r}"
            )
        if not isinstance(model_id, str):
            raise TypeError(
                f'handle to node "{self._node}": options(model_id=...) takes a string, '
                f"not {model_id!r}"
            )
        return Handle(self._caller, self._node, stream=stream, model_id=model_id)

    def __getattr__(self, method: str) -> MethodHandle:
        if method.startswith("__"):  # Python's own protocols (copy, pickle...): not a method
            raise AttributeError(method)
        if method.startswith("_"):
            raise AttributeError(
                f'handle to node "{self._node}": "{method}" is private; a handle calls public '
                "methods only"
            )
        return MethodHandle(
            self._caller, self._node, method, stream=self._stream, model_id=self._model_id
        )

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return MethodHandle(
            self._caller, self._node, "__call__", stream=self._stream, model_id=self._model_id
        ).remote(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<braid handle {self._node}>"


class RemoteResponse:
    """A response passed by reference: its value lives on a peer and is fetched when awaited."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Any]],
        loop: asyncio.AbstractEventLoop,
        *,
        origin: Any = None,
    ) -> None:
        self._fetch = fetch
        self._loop = loop
        self._task: asyncio.Future[Any] | None = None
        #: Where the value lives (a ``braid.v1.Upstream``), so that a sidecar can hand the
        #: reference on to its worker instead of the value.
        self.origin = origin

    def _start(self) -> asyncio.Future[Any]:
        if self._task is None:
            self._task = asyncio.ensure_future(_wrap(self._fetch()), loop=self._loop)
        return self._task

    def __await__(self) -> Generator[Any, None, Any]:
        return self._start().__await__()

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def result(self, timeout: float | None = None) -> Any:
        if _on_loop(self._loop):
            raise BadRequest("RemoteResponse.result() would block the event loop; use `await`")
        waiter = asyncio.run_coroutine_threadsafe(_wrap(self._fetch_once()), self._loop)
        return waiter.result(timeout)

    async def _fetch_once(self) -> Any:
        return await self._start()
