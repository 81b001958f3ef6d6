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

from collections.abc import AsyncIterator, Callable
from typing import Any

from braid.runtime._ingress.graph_apps import AppGraph, current_app_graph
from braid.runtime._ingress.routes import GraphRoute
from braid.runtime._replica.handles import CallContext, Handle
from braid.runtime._replica.outbound import OutboundCaller
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


def _app_call_deadline(route: GraphRoute) -> Callable[[CallContext | None], float]:
    """An app's handle call's deadline: the request's being served, else the graph's own."""

    def deadline(context: CallContext | None) -> float:
        if context is not None and context.deadline is not None:
            return context.deadline
        return route.deadline(None)

    return deadline


def handle(node: str) -> Handle:
    """A handle to ``node`` of the graph whose app is being imported or serving a request."""
    graph = _current("handle")
    nodes = [n.name for n in graph.route.graph.spec.nodes]
    if node not in nodes:
        raise ValueError(
            f'braid.ingress.handle("{node}"): graph "{graph.route.name}" has no node "{node}"; '
            f"its nodes: {', '.join(nodes)}"
        )
    route = graph.route
    caller = OutboundCaller(  # as a node's handle calls are sent (decision 0020: traced alike)
        caller="ingress",
        graph=route.name,
        client=route.runner.client,
        loop=graph.loop,
        deadline=_app_call_deadline(route),
        carries_context=False,
    )
    return Handle(caller, node)
