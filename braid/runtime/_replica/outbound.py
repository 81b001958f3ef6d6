"""The outbound side of a replica: handle calls from user code to other nodes.

:class:`OutboundCaller` is what :class:`~braid.runtime._replica.handles.Handle` objects call. It
carries the request's context onward (its id, deadline and allowed headers; the callee's
response headers join the caller's), and turns responses found among the arguments into
upstream references, so that a response passed on without awaiting reaches the callee peer to
peer:

- a pending response as a top-level argument becomes ``{"$up": i}``: this replica serves its
  value (``Fetch``) once it arrives, and the callee resolves it before its method runs;
- a response nested in a list or dict becomes ``{"$ref": i}``: the callee receives a response
  object and awaits it itself (pass by reference);
- a response already done is sent by value.

A worker behind a Unix socket cannot be reached by peers itself: it advertises its sidecar's
address and keeps such values under keys with the worker prefix, which its sidecar forwards
(see :mod:`braid.runtime._replica.worker_socket`). Without any address to advertise, pending
responses are awaited here first and sent by value.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from braid.runtime._proto.braid_pb2 import CallRequest, Upstream
from braid.runtime._replica.handles import CallContext, RemoteResponse, Response
from braid.runtime._replica.result_store import ResultStore
from braid.runtime._wire import tracing
from braid.runtime._wire.client import ReplicaClient
from braid.runtime._wire.codec import ReferenceMarker, UpstreamMarker, decode, encode
from braid.runtime._wire.errors import RequestError

_Pending = Response | RemoteResponse

#: Seconds of the request's deadline that a handle call keeps back from its callee, so that the
#: innermost late node's timer fires first and the deadline error names it, not its callers.
HANDLE_DEADLINE_STEP = 0.1


def _callee_deadline(context: CallContext | None) -> float | None:
    if context is None or context.deadline is None:
        return None
    return context.deadline - HANDLE_DEADLINE_STEP


class OutboundCaller:
    """Sends handle calls from user code, with the request's id and deadline."""

    def __init__(
        self,
        *,
        node: str,
        graph: str,
        client: ReplicaClient,
        store: ResultStore,
        advertised_address: str | None,
        loop: asyncio.AbstractEventLoop,
        key_prefix: str = "handle/",
    ) -> None:
        self.node, self.graph = node, graph
        self.loop = loop
        self._client, self._store, self._address = client, store, advertised_address
        self._key_prefix = key_prefix
        self._relays: set[asyncio.Future[None]] = set()

    async def call(
        self,
        node: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: CallContext | None,
        *,
        model_id: str = "",
    ) -> Any:
        request = await self._request(node, method, args, kwargs, context, model_id=model_id)
        with tracing.handle_span(request):
            _, reply = await self._client.call(request, deadline=_callee_deadline(context))
        if context is not None and reply.response_headers:  # they join this call's
            context.response_headers.update(reply.response_headers)
        return decode(reply.result)

    async def stream(
        self,
        node: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: CallContext | None,
        *,
        model_id: str = "",
    ) -> AsyncIterator[Any]:
        request = await self._request(node, method, args, kwargs, context, model_id=model_id)
        items = self._client.call_stream(request, deadline=_callee_deadline(context))
        async for item in tracing.traced_handle_stream(request, items):
            if context is not None and item.response_headers:
                context.response_headers.update(item.response_headers)
            yield decode(item.item)

    async def _request(
        self,
        node: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: CallContext | None,
        *,
        model_id: str = "",
    ) -> CallRequest:
        upstreams: list[Upstream] = []
        plain_args = [await self._convert(value, upstreams, top=True) for value in args]
        plain_kwargs = {
            key: await self._convert(value, upstreams, top=True) for key, value in kwargs.items()
        }
        request = CallRequest(
            request_id=context.request_id if context else uuid.uuid4().hex,
            graph=self.graph,
            node=node,
            method=method,
            args=encode([plain_args, plain_kwargs]),
            upstreams=upstreams,
            return_result=True,
            caller=self.node,
            model_id=model_id,
        )
        if context is not None and context.headers:  # the request's context goes onward
            request.context.headers.update(context.headers)
        return request

    async def _convert(self, value: Any, upstreams: list[Upstream], *, top: bool) -> Any:
        if isinstance(value, _Pending):
            if value.done() or self._address is None:
                return await value
            key = self._serve_when_ready(value)
            upstreams.append(Upstream(address=self._address, key=key))
            index = len(upstreams) - 1
            return UpstreamMarker(index) if top else ReferenceMarker(index)
        if isinstance(value, list | tuple):
            return [await self._convert(item, upstreams, top=False) for item in value]
        if isinstance(value, dict):
            return {
                key: await self._convert(item, upstreams, top=False) for key, item in value.items()
            }
        return value

    def _serve_when_ready(self, pending: _Pending) -> str:
        """Store ``pending``'s value here for one peer fetch once it arrives."""
        key = f"{self._key_prefix}{uuid.uuid4().hex}"

        async def relay() -> None:
            try:
                value = await pending
            except RequestError as error:
                self._store.put_error(key, error, 1)
                return
            except Exception as exc:  # the consumer must not wait for a value that never comes
                self._store.put_error(key, RequestError(f"upstream response failed: {exc}"), 1)
                return
            self._store.put(key, encode(value), 1, value=value)

        task = asyncio.ensure_future(relay())
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)
        return key
