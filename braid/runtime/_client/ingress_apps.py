"""What a graph's own ASGI app calls: its graph's flow, and handles to its nodes.

A graph with ``spec.ingress.http.app`` is served by that app inside the ingress process
(:mod:`braid.runtime._ingress.graph_apps`). The app reaches its graph through
``braid.ingress``, which re-exports this module:

- :func:`flow` gives a :class:`Flow`: ``await flow(value)`` runs the graph on ``value`` and
  returns its output; ``async for item in flow.stream(value)`` iterates a streaming output item
  by item (a single output is one item). Both take ``timeout=`` (seconds, up to the graph's
  ``maxRequestTimeoutSeconds``) and ``model_id=`` (multiplexed nodes);
- :func:`handle` gives a :class:`~braid.runtime.Handle` to one node: ``.method.remote(...)``
  returns a response to ``await``, ``.options(stream=True)`` a stream to ``async for``, exactly
  as inside a node. A response passed into another handle call is awaited here first (the
  ingress serves no values to peers).

Both may be called at import time (module level) or inside a request: each binds to the graph
that the ingress is importing or serving at that moment. Failures raise the typed
:class:`~braid.runtime.RequestError` of the request (its kind, node and step, and
``http_status``), which the app may catch and answer as it likes.

This sits in the client layer because a handle is the replica's class and the flow runner
the ingress's: the layer above both is the one that may use them together.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from braid.runtime._ingress.graph_apps import AppGraph, current_app_graph
from braid.runtime._proto.braid_pb2 import CallRequest
from braid.runtime._replica.handles import CallContext, Handle, RemoteResponse, Response
from braid.runtime._wire import tracing
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import StreamingOutput

_OUTSIDE = (
    "braid.ingress.{what}() works only in a graph's own app (spec.ingress.http.app) served by "
    "the braid ingress: at the app module's import, or inside one of its requests"
)


def _current(what: str) -> AppGraph:
    graph = current_app_graph.get()
    if graph is None:
        raise RuntimeError(_OUTSIDE.format(what=what))
    return graph


class Flow:
    """The flow of one graph, called from its app (see the module docstring)."""

    def __init__(self, graph: AppGraph) -> None:
        self._graph = graph

    @property
    def graph(self) -> str:
        """The graph's name."""
        return self._graph.route.name

    def _deadline(self, timeout: float | None) -> float:
        if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
            raise ValueError(f"flow: timeout takes seconds above 0, not {timeout!r}")
        return self._graph.route.deadline(timeout)

    async def __call__(
        self,
        value: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the request's deadline, sent on
        model_id: str = "",
    ) -> Any:
        """Run the graph on ``value``; its output (a streaming output raises, use stream())."""
        runner = self._graph.route.runner
        try:
            result = await runner.start(
                value, deadline=self._deadline(timeout), allow_stream=False, model_id=model_id
            )
        except StreamingOutput as exc:
            raise StreamingOutput(
                f"{exc.message}: in the app, `async for item in flow.stream(value)`",
                node=exc.node,
                step=exc.step,
            ) from None
        return result.value.value()

    async def stream(
        self,
        value: Any = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the request's deadline, sent on
        model_id: str = "",
    ) -> AsyncIterator[Any]:
        """Run the graph on ``value``; its output's items as they come."""
        runner = self._graph.route.runner
        result = await runner.start(value, deadline=self._deadline(timeout), model_id=model_id)
        if not result.streaming:
            yield result.value.value()
            return
        async for output in result.items():
            yield output.value()

    def __repr__(self) -> str:
        return f"<braid flow of graph {self.graph}>"


def flow() -> Flow:
    """The flow of the graph whose app is being imported or is serving this request."""
    return Flow(_current("flow"))


class IngressCaller:
    """Sends handle calls from a graph's app straight to its nodes' replicas."""

    def __init__(self, graph: AppGraph) -> None:
        self._graph = graph
        self.loop = graph.loop

    def _deadline(self, context: CallContext | None) -> float:
        if context is not None and context.deadline is not None:
            return context.deadline
        return self._graph.route.deadline(None)

    async def _request(
        self, node: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], model_id: str
    ) -> CallRequest:
        plain_args = [await _settled(value) for value in args]
        plain_kwargs = {key: await _settled(value) for key, value in kwargs.items()}
        return CallRequest(
            request_id=uuid.uuid4().hex,
            graph=self._graph.route.name,
            node=node,
            method=method,
            args=encode([plain_args, plain_kwargs]),
            return_result=True,
            caller="ingress",
            model_id=model_id,
        )

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
        request = await self._request(node, method, args, kwargs, model_id)
        client = self._graph.route.runner.client
        with tracing.handle_span(request):  # as a node's handle call (decision 0020)
            _, reply = await client.call(request, deadline=self._deadline(context))
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
        request = await self._request(node, method, args, kwargs, model_id)
        client = self._graph.route.runner.client
        items = client.call_stream(request, deadline=self._deadline(context))
        async for item in tracing.traced_handle_stream(request, items):
            yield decode(item.item)


async def _settled(value: Any) -> Any:
    """``value`` with every response in it replaced by its value."""
    if isinstance(value, Response | RemoteResponse):
        return await value
    if isinstance(value, list | tuple):
        return [await _settled(item) for item in value]
    if isinstance(value, dict):
        return {key: await _settled(item) for key, item in value.items()}
    return value


def handle(node: str) -> Handle:
    """A handle to ``node`` of the graph whose app is being imported or serving a request."""
    graph = _current("handle")
    nodes = [n.name for n in graph.route.graph.spec.nodes]
    if node not in nodes:
        raise ValueError(
            f'braid.ingress.handle("{node}"): graph "{graph.route.name}" has no node "{node}"; '
            f"its nodes: {', '.join(nodes)}"
        )
    return Handle(IngressCaller(graph), node)
