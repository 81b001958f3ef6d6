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

A graph's own ASGI app sends its handle calls through this class too
(:mod:`braid.runtime._client.ingress_apps`); what differs is passed in: the caller's name
(``ingress``), no address (the ingress serves no values to peers), a deadline of the graph's
own when no request is being served, and ``carries_context=False`` (an app's call is a request
of its own).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
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


def callee_deadline(context: CallContext | None) -> float | None:
    """A node's handle call's deadline: its request's, less :data:`HANDLE_DEADLINE_STEP`."""
    if context is None or context.deadline is None:
        return None
    return context.deadline - HANDLE_DEADLINE_STEP


class OutboundCaller:
    """Sends handle calls from user code, with the request's id and deadline.

    ``caller`` names who calls (the node, or ``ingress`` for a graph's app). Pending responses
    among the arguments are served from ``store`` at ``advertised_address``; without both they
    are awaited first and sent by value. ``deadline`` gives a call's absolute deadline from the
    request being served (its context), when the call is sent. With ``carries_context`` the
    request's id and headers go with the call and the callee's response headers come back into
    the context; without it each call is sent as a request of its own.
    """

    def __init__(
        self,
        *,
        caller: str,
        graph: str,
        client: ReplicaClient,
        loop: asyncio.AbstractEventLoop,
        store: ResultStore | None = None,
        advertised_address: str | None = None,
        key_prefix: str = "handle/",
        deadline: Callable[[CallContext | None], float | None] = callee_deadline,
        carries_context: bool = True,
    ) -> None:
        self.caller, self.graph = caller, graph
        self.loop = loop
        self._client, self._store, self._address = client, store, advertised_address
        self._key_prefix = key_prefix
        self._deadline = deadline
        self._carries_context = carries_context
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
            _, reply = await self._client.call(request, deadline=self._deadline(context))
        self._join_headers(context, reply.response_headers)
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
        items = self._client.call_stream(request, deadline=self._deadline(context))
        async for item in tracing.traced_handle_stream(request, items):
            self._join_headers(context, item.response_headers)
            yield decode(item.item)

    def _join_headers(self, context: CallContext | None, headers: Mapping[str, str]) -> None:
        """The callee's response headers join those of the request being served."""
        if self._carries_context and context is not None and headers:
            context.response_headers.update(headers)

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
        onward = context if self._carries_context else None
        request = CallRequest(
            request_id=onward.request_id if onward else uuid.uuid4().hex,
            graph=self.graph,
            node=node,
            method=method,
            args=encode([plain_args, plain_kwargs]),
            upstreams=upstreams,
            return_result=True,
            caller=self.caller,
            model_id=model_id,
        )
        if onward is not None and onward.headers:  # the request's context goes onward
            request.context.headers.update(onward.headers)
        return request

    async def _convert(self, value: Any, upstreams: list[Upstream], *, top: bool) -> Any:
        if isinstance(value, _Pending):
            if value.done() or self._address is None or self._store is None:
                return await value
            key = self._serve_when_ready(value, self._store)
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

    def _serve_when_ready(self, pending: _Pending, store: ResultStore) -> str:
        """Store ``pending``'s value in ``store`` for one peer fetch once it arrives."""
        key = f"{self._key_prefix}{uuid.uuid4().hex}"

        async def relay() -> None:
            try:
                value = await pending
            except RequestError as error:
                store.put_error(key, error, 1)
                return
            except Exception as exc:  # the consumer must not wait for a value that never comes
                store.put_error(key, RequestError(f"upstream response failed: {exc}"), 1)
                return
            store.put(key, encode(value), 1, value=value)

        task = asyncio.ensure_future(relay())
        self._relays.add(task)
        task.add_done_callback(self._relays.discard)
        return key
