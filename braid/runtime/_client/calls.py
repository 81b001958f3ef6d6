"""Calls of running graphs through an ingress's gRPC API, with braid's codec.

A :class:`GraphCaller` sends one graph's input as ``braid.v1.Graph/Invoke`` (or
``InvokeStream``) and returns at once: a :class:`GraphResponse` to ``.result()`` or ``await``, or
a :class:`GraphStream` to iterate with ``for`` or ``async for``. numpy arrays and bytes travel in
braid's binary codec, so they arrive as they left; a failed request raises the typed
:class:`~braid.runtime.RequestError` that the ingress reported (its kind, node and step).
``braid.runtime.run`` (local graphs) and ``braid.connect`` (graphs already running, here or on
Kubernetes) both hand these out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, cast

import grpc

from braid.runtime._proto.braid_pb2 import GraphReply, GraphRequest
from braid.runtime._proto.braid_pb2_grpc import GraphStub
from braid.runtime._wire import tracing
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import Cancelled, RequestError, from_rpc_error


def _value_of(reply: GraphReply) -> Any:
    which = reply.WhichOneof("output")
    if which == "json":
        return json.loads(reply.json)
    if which == "raw":
        return reply.raw
    if which == "payload":
        return decode(reply.payload)
    return None


def _error(exc: grpc.RpcError) -> RequestError:
    # A sync RpcError has the same code/details/trailing_metadata as an AioRpcError.
    return from_rpc_error(cast(grpc.aio.AioRpcError, exc))


class GraphResponse:
    """The pending result of one graph request: ``.result()`` or ``await``."""

    def __init__(self, future: grpc.Future) -> None:
        self._future = future

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the output; raises the request's :class:`RequestError` if it failed."""
        try:
            reply = self._future.result(timeout=timeout)
        except grpc.RpcError as exc:
            raise _error(exc) from exc
        except grpc.FutureTimeoutError:
            raise TimeoutError(
                f"no answer within {timeout} s; the request goes on (cancel() it, or wait again)"
            ) from None
        except grpc.FutureCancelledError:
            raise Cancelled("the request was cancelled (cancel())") from None
        return _value_of(reply)

    @property
    def degraded(self) -> list[str]:
        """The steps that answered with their fallback or were missing from a quorum join
        (decision 0021); ``[]`` until the result is in, and when nothing degraded."""
        if not self._future.done() or self._future.cancelled() or self._future.exception():
            return []
        reply: GraphReply = self._future.result()
        return [item.step for item in reply.degraded]

    def cancel(self) -> bool:
        return bool(self._future.cancel())

    def __await__(self) -> Generator[Any, None, Any]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not waiter.done():
                waiter.set_result(None)

        def wake(_: Any) -> None:
            loop.call_soon_threadsafe(settle)

        self._future.add_done_callback(wake)
        try:
            yield from waiter.__await__()
        except asyncio.CancelledError:
            self._future.cancel()
            raise
        return self.result()


class GraphStream:
    """The items of a streaming graph request, as a sync or an async iterator."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[Any]:
        try:
            for reply in self._call:
                yield _value_of(reply)
        except grpc.RpcError as exc:
            raise _error(exc) from exc
        finally:
            self._call.cancel()

    async def __aiter__(self) -> AsyncIterator[Any]:
        items = iter(self)
        done = object()
        try:
            while True:
                item = await asyncio.to_thread(next, items, done)
                if item is done:
                    return
                yield item
        finally:
            self._call.cancel()

    def cancel(self) -> None:
        self._call.cancel()


def check_seconds(value: object, where: str) -> None:
    """``ValueError`` unless ``value`` is a number of seconds above 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{where} takes seconds above 0, not {value!r}")


class GraphCaller:
    """Calls one graph through the ingress; :meth:`options` makes a variant."""

    def __init__(
        self, stub: GraphStub, graph: str, *, stream: bool = False, timeout: float | None = None
    ) -> None:
        self._stub, self.graph, self._stream, self._timeout = stub, graph, stream, timeout

    def options(self, *, stream: bool | None = None, timeout: float | None = None) -> GraphCaller:
        """A variant that streams (``stream=True``) or has a deadline of ``timeout`` seconds."""
        if stream is not None and not isinstance(stream, bool):
            raise TypeError(f"options(stream=...) takes True or False, not {stream!r}")
        if timeout is not None:
            check_seconds(timeout, "options(timeout=...)")
        return GraphCaller(
            self._stub,
            self.graph,
            stream=self._stream if stream is None else stream,
            timeout=self._timeout if timeout is None else timeout,
        )

    def remote(self, value: Any = None) -> Any:
        """Send ``value`` as the graph input: a :class:`GraphResponse` (or :class:`GraphStream`)."""
        request = GraphRequest(graph=self.graph, payload=encode(value))
        metadata = tracing.client_metadata()  # the caller's trace, if it traces
        try:
            if self._stream:
                return GraphStream(
                    self._stub.InvokeStream(request, timeout=self._timeout, metadata=metadata)
                )
            return GraphResponse(
                self._stub.Invoke.future(request, timeout=self._timeout, metadata=metadata)
            )
        except ValueError:  # gRPC's "Cannot invoke RPC: Channel closed!"
            what = f'graph "{self.graph}"' if self.graph else "the graph"
            raise ValueError(
                f"{what} cannot be called: its connection was closed (close(), or the with "
                "block of its App or Client ended)"
            ) from None
