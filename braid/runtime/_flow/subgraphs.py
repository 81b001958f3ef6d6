"""Calling another graph from a step (``graph: NAME``), as if it were a node.

A sub-graph step is run by the ingress that runs its flow (docs/decisions/0023-sub-graphs.md):
the ingress gathers the step's input (the graph input inline, other steps' values fetched from
their producers), calls the sub-graph, and hands its output to the steps that consume it, inline.
:class:`GraphCalls` is where the call goes:

- a graph that the same ingress serves (``braid run parent.yaml child.yaml``) runs in process,
  through its own :class:`~braid.runtime._flow.running.FlowRunner`, under the same deadline;
- any other graph is called through its ingress's gRPC API, ``braid.v1.Graph/Invoke``, at the
  address given for it (``braid ingress --graph-address NAME=HOST:PORT``; the operator renders
  ``<name>-ingress:9000`` for every graph a graph calls), with the request's remaining time as
  the gRPC timeout and the request's metadata (the model id, and whatever
  ``outgoing_metadata`` adds, such as trace context) passed on.

A failure inside the sub-graph keeps its kind (a user error stays ``UserCodeError``, a late node
``DeadlineExceeded``) and is renamed by :func:`in_subgraph`: the message names the sub-graph,
its failing node and step, and the parent's step; ``node`` becomes ``<graph>/<node>`` and
``step`` the parent's step. A sub-graph's output must not stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import grpc

from braid.runtime._flow.results import FlowResult
from braid.runtime._proto.braid_pb2 import GraphReply, GraphRequest
from braid.runtime._proto.braid_pb2_grpc import GraphStub
from braid.runtime._wire import tracing
from braid.runtime._wire.client import CHANNEL_OPTIONS, DEADLINE_MARGIN
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import (
    DeadlineExceeded,
    NotFound,
    ReplicaUnavailable,
    RequestError,
    from_rpc_error,
    origin_of,
    reached_peer,
)

#: The gRPC metadata key of a request's model id (the ingress reads the same key).
MODEL_ID_KEY = "braid-model-id"
#: Where a deadline error's explanation starts (``_flow/settling.py`` appends it).
DEADLINE_EXPLAINED = ": the request's deadline of "
#: The gRPC port of every graph's ingress Service in a cluster.
INGRESS_GRPC_PORT = 9000


def cluster_address(graph: str, namespace: str | None = None) -> str:
    """The gRPC address of ``graph``'s ingress Service: ``<graph>-ingress[.<ns>]:9000``."""
    host = f"{graph}-ingress" + (f".{namespace}.svc" if namespace else "")
    return f"{host}:{INGRESS_GRPC_PORT}"


class LocalGraph(Protocol):
    """A graph served by this ingress: its ``FlowRunner``, whose ``start`` runs a request."""

    async def start(
        self, input_value: Any, *, deadline: float, allow_stream: bool = True, model_id: str = ""
    ) -> FlowResult: ...


def _trace_metadata() -> Sequence[tuple[str, str]]:
    """The current W3C trace context (decision 0020), so the sub-graph's spans join the
    caller's trace; nothing when tracing is off."""
    return tracing.metadata(()) or ()


class GraphCalls:
    """Calls of other graphs, in process when this ingress serves them, else over gRPC."""

    def __init__(
        self,
        addresses: Mapping[str, str] | None = None,
        *,
        outgoing_metadata: Callable[[], Sequence[tuple[str, str]]] = _trace_metadata,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: Graph name -> the gRPC address of its ingress.
        self.addresses = dict(addresses or {})
        #: Graph name -> its runner and its route's deadline rule, for graphs served here.
        self.local: dict[str, tuple[LocalGraph, Callable[[float | None], float]]] = {}
        #: Extra metadata for every remote call, read per call (the hook for trace context).
        self.outgoing_metadata = outgoing_metadata
        self.clock = clock
        self._stubs: dict[str, GraphStub] = {}
        self._channels: list[grpc.aio.Channel] = []

    def serve_locally(
        self, name: str, runner: LocalGraph, deadline: Callable[[float | None], float]
    ) -> None:
        """Run calls of graph ``name`` in process, on ``runner``."""
        self.local[name] = (runner, deadline)

    async def call(
        self, graph: str, value: Any, *, step: str, deadline: float, model_id: str = ""
    ) -> Any:
        """The sub-graph's output for ``value``; its errors renamed by :func:`in_subgraph`."""
        try:
            return await self._call(graph, value, deadline=deadline, model_id=model_id)
        except RequestError as error:
            raise in_subgraph(error, graph=graph, step=step) from None

    async def _call(self, graph: str, value: Any, *, deadline: float, model_id: str) -> Any:
        local = self.local.get(graph)
        if local is not None:
            runner, deadline_of = local
            # As over gRPC: the sub-graph's own timeout applies too, and it ends a margin
            # before the caller's, so that its error (naming its late node) arrives first.
            left = max(deadline - self.clock() - DEADLINE_MARGIN, 0.001)
            inner = min(deadline, deadline_of(left))
            result = await runner.start(
                value, deadline=inner, allow_stream=False, model_id=model_id
            )
            return result.value.value()
        address = self.addresses.get(graph)
        if address is None:
            raise NotFound(
                f'this ingress does not serve graph "{graph}" and has no address for it: run '
                f"both graphs in one braid run (braid run parent.yaml {graph}.yaml), or give "
                f"its ingress's gRPC address with --graph-address {graph}=HOST:PORT"
            )
        return await self._remote(graph, address, value, deadline=deadline, model_id=model_id)

    async def _remote(
        self, graph: str, address: str, value: Any, *, deadline: float, model_id: str
    ) -> Any:
        metadata = list(self.outgoing_metadata())
        if model_id:
            metadata.append((MODEL_ID_KEY, model_id))
        request = GraphRequest(graph=graph, payload=encode(value))
        try:
            reply: GraphReply = await self._stub(address).Invoke(
                request, timeout=max(deadline - self.clock(), 0.001), metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            if reached_peer(exc):
                raise from_rpc_error(exc) from exc
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise from_rpc_error(exc, address=address) from exc
            raise ReplicaUnavailable(
                f'the ingress of graph "{graph}" at {address} did not answer '
                f"({exc.code().name}: {exc.details()})"
            ) from exc
        which = reply.WhichOneof("output")
        if which == "json":
            return json.loads(reply.json)
        if which == "raw":
            return reply.raw
        return decode(reply.payload)

    def _stub(self, address: str) -> GraphStub:
        stub = self._stubs.get(address)
        if stub is None:
            channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
            self._channels.append(channel)
            stub = self._stubs[address] = GraphStub(channel)  # type: ignore[no-untyped-call]
        return stub

    async def close(self) -> None:
        channels, self._channels, self._stubs = self._channels, [], {}
        for channel in channels:
            await channel.close(grace=None)


def in_subgraph(error: RequestError, *, graph: str, step: str) -> RequestError:
    """``error`` from inside sub-graph ``graph``, as the parent's step ``step`` reports it."""
    origin = origin_of(error)
    where = [f'node "{origin.node}"'] if origin.node else []
    where += [f'step "{origin.step}"'] if origin.step else []
    # A message that names its node and step already (a user error's does) needs no "at".
    named = all(f'"{name}"' in origin.message for name in (origin.node, origin.step) if name)
    inner = "" if named else f" at {', '.join(where)}"
    if isinstance(origin, DeadlineExceeded):
        # The caller's own deadline is what passed: the caller explains it (its budget, its
        # fields), not the sub-graph's ingress with the part of it the sub-graph got.
        origin.message = origin.message.partition(DEADLINE_EXPLAINED)[0]
    origin.message = (
        f'sub-graph "{graph}" (called by step "{step}") failed{inner}: '
        f"{origin.message}{origin.where()}"
    )
    origin.args = (origin.message,)
    origin.node = f"{graph}/{origin.node}" if origin.node else graph
    origin.step = step
    origin.path = ()
    return origin
