"""The gRPC side of the ingress: ``braid.v1.Graph`` with health checking and server reflection.

``Invoke`` runs a graph and answers one ``GraphReply``; ``InvokeStream`` answers a stream of them,
item by item (one message for a graph whose output does not stream). ``Invoke`` on a graph whose
output is a generator fails with FAILED_PRECONDITION and says to use ``InvokeStream``: buffering
a stream into one reply would hide exactly what streaming is for. Once braid has seen that a
graph streams it refuses such an ``Invoke`` before running anything.

``GraphRequest.graph`` names the graph (it may be empty when the ingress serves one). The
request's deadline is the smaller of the client's gRPC deadline and the graph's
``requestTimeoutSeconds``. Errors carry their gRPC code and braid's error details in the trailing
metadata (``braid-error-bin``), as between sidecars. Health: service ``braid.v1.Graph`` is
SERVING once every node has a ready replica. Reflection lets ``grpcurl`` call the ingress with no
proto files. Messages have no 4 MB ceiling. braid parses each request itself (the service is
registered with a bytes-in handler), so that a message that is not a ``GraphRequest`` (corrupt,
truncated, invalid UTF-8 in a string field) is INVALID_ARGUMENT with one line, rather than
gRPC's UNKNOWN with a traceback of its deserializer in the log. One client connection may have
at most :data:`MAX_CALLS_PER_CONNECTION` calls in flight; more are refused with
RESOURCE_EXHAUSTED and a retry hint, like any other overload.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from braid.runtime._flow.results import FlowResult
from braid.runtime._ingress.inference_protocol_grpc import (
    INFERENCE_SERVICE,
    InferenceGrpc,
    add_inference_service,
)
from braid.runtime._ingress.metrics import IngressMetrics
from braid.runtime._ingress.rendering import (
    DEGRADED_HEADER,
    degraded_names,
    framed_reply,
    grpc_input,
    grpc_reply,
    raw_request,
    with_degraded,
)
from braid.runtime._ingress.routes import (
    MODEL_ID_HEADER,
    GraphRoute,
    RouteTable,
    parse_model_id,
)
from braid.runtime._proto import braid_pb2, braid_pb2_grpc
from braid.runtime._proto.braid_pb2 import GraphReply, GraphRequest
from braid.runtime._wire import tracing
from braid.runtime._wire.client import DEADLINE_MARGIN, server_options
from braid.runtime._wire.codec import encode
from braid.runtime._wire.errors import (
    BadRequest,
    NotFound,
    Overloaded,
    RequestError,
    code_of,
    error_metadata,
    origin_of,
)

logger = logging.getLogger(__name__)

GRAPH_SERVICE = braid_pb2.DESCRIPTOR.services_by_name["Graph"].full_name


#: Calls in flight on one client connection (HTTP/2 streams of one channel) beyond which the
#: ingress refuses more as overload: one client cannot take every slot of the ingress.
MAX_CALLS_PER_CONNECTION = 1000

#: Room for the fields of a GraphRequest beside its input (the graph's name, the framing).
_HEADROOM_BYTES = 4096


class RequestTooLarge(RequestError):
    """A gRPC request over the graph's ``maxRequestBytes`` (HTTP answers 413 for the same)."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 413


class GraphService(braid_pb2_grpc.GraphServicer):
    """``braid.v1.Graph`` over the ingress's graphs."""

    def __init__(
        self,
        routes: RouteTable,
        metrics: IngressMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = routes
        self.metrics = metrics
        self.clock = clock
        #: Calls in flight per client connection (``context.peer()``).
        self._calls: Counter[str] = Counter()

    async def Invoke(self, request: GraphRequest, context: grpc.aio.ServicerContext) -> GraphReply:
        reply = await self._invoke(request, context)
        return reply if isinstance(reply, GraphReply) else GraphReply.FromString(reply)

    async def _invoke(
        self,
        request: GraphRequest,
        context: grpc.aio.ServicerContext,
        size: int | None = None,
        raw: bytes | memoryview | None = None,
    ) -> GraphReply | bytes:
        """``Invoke``; a raw output comes back serialized already (see ``framed_reply``).
        ``raw``: the raw input, read from the serialized request without a copy."""
        route = await self._route(request, context)
        started, code = self.clock(), "CANCELLED"
        trace = tracing.request_span(route.name, "grpc", context.invocation_metadata())
        with self.metrics.tracking(route.name, "grpc"), trace:
            try:
                result = await self._start(
                    route, request, context, allow_stream=False, size=size, raw=raw
                )
                _send_trailers(result, context)
                if result.intermediates is not None:
                    reply: GraphReply | bytes = _with_intermediates(
                        grpc_reply(result.value), result.intermediates
                    )
                else:
                    reply = framed_reply(result.value)
                if result.degraded:  # decision 0021
                    reply = with_degraded(reply, result.degraded)
                code = "OK"
                return reply
            except RequestError as error:
                tracing.fail_current(error)
                code = code_of(error).name
                await self._abort(route, error, context)
                raise  # pragma: no cover - abort raises
            finally:
                self.metrics.observe(route.name, "grpc", code, self.clock() - started)

    async def InvokeStream(
        self, request: GraphRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[GraphReply]:
        route = await self._route(request, context)
        started, code = self.clock(), "CANCELLED"
        with self.metrics.tracking(route.name, "grpc"):
            try:
                result = await self._start(route, request, context, allow_stream=True)
                _send_trailers(result, context)
                if result.streaming and result.intermediates is None:
                    async for item in result.items():
                        yield grpc_reply(item)
                else:
                    reply = grpc_reply(result.value)
                    if result.intermediates is not None:
                        reply = _with_intermediates(reply, result.intermediates)
                    if result.degraded:  # decision 0021
                        reply = with_degraded(reply, result.degraded)
                    yield reply
                code = "OK"
            except RequestError as error:
                code = code_of(error).name
                await self._abort(route, error, context)
            finally:
                self.metrics.observe(route.name, "grpc", code, self.clock() - started)

    async def invoke_bytes(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> GraphReply | bytes:
        """``Invoke`` of a serialized request, parsed here (see the module's docstring)."""
        async with self._admitted(context):
            fast = raw_request(data)
            if fast is not None:  # raw bytes in: never copied into a protobuf message
                graph, raw = fast
                request = GraphRequest(graph=graph)
                return await self._invoke(request, context, size=len(data), raw=raw)
            return await self._invoke(await _parse(data, context), context, size=len(data))

    async def invoke_stream_bytes(
        self, data: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[GraphReply]:
        """``InvokeStream`` of a serialized request, parsed here."""
        async with self._admitted(context):
            request = await _parse(data, context)
            async for reply in self.InvokeStream(request, context):
                yield reply

    @contextlib.asynccontextmanager
    async def _admitted(self, context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        """Count a call on its connection; refuse it past :data:`MAX_CALLS_PER_CONNECTION`."""
        peer = context.peer()
        if self._calls[peer] >= MAX_CALLS_PER_CONNECTION:
            error = Overloaded(
                f"over {MAX_CALLS_PER_CONNECTION} gRPC calls in flight on one connection; "
                "retry after 1 s, or spread the calls over more channels",
                retry_after=1.0,
            )
            await context.abort(
                code_of(error), error.message, trailing_metadata=error_metadata(error)
            )
        self._calls[peer] += 1
        try:
            yield
        finally:
            self._calls[peer] -= 1
            if not self._calls[peer]:
                del self._calls[peer]

    async def _route(self, request: GraphRequest, context: grpc.aio.ServicerContext) -> GraphRoute:
        route = self.routes.by_name(request.graph)
        if route is not None:
            return route
        names = ", ".join(self.routes.names())
        if request.graph:
            # json.dumps quotes and escapes it: a name with a newline stays on one line.
            message = f"no graph {json.dumps(request.graph[:100])} is served here; graphs: {names}"
        else:
            message = (
                f"this ingress serves several graphs; set GraphRequest.graph to one of {names}"
            )
        error = NotFound(message)
        await context.abort(code_of(error), message, trailing_metadata=error_metadata(error))
        raise error  # pragma: no cover - abort raises

    async def _start(
        self,
        route: GraphRoute,
        request: GraphRequest,
        context: grpc.aio.ServicerContext,
        *,
        allow_stream: bool,
        size: int | None = None,
        raw: bytes | memoryview | None = None,
    ) -> FlowResult:
        if size is None:  # ByteSize() serializes the message: a copy of a large input
            size = request.ByteSize()
        if size > route.max_request_bytes:
            error = RequestTooLarge(
                f'the request for graph "{route.name}" is {size} bytes; its limit is '
                f"{route.max_request_bytes} bytes (spec.ingress.maxRequestBytes)"
            )
            raise error
        value = grpc_input(request) if raw is None else raw
        requested = context.time_remaining()
        if requested is not None:
            # Answer before the client's own timer fires, so that a deadline error names the
            # late node and step instead of being the client's bare DEADLINE_EXCEEDED.
            requested = max(requested - DEADLINE_MARGIN, 0.001)
        deadline = route.deadline(requested)
        metadata = {
            key: value
            for key, value in (context.invocation_metadata() or ())
            if isinstance(value, str)  # binary (-bin) metadata is no header
        }
        model_id = parse_model_id(metadata.get(MODEL_ID_HEADER))
        intermediates = list(request.intermediates)
        if not allow_stream:  # Invoke: within _invoke's span
            return await route.runner.start(
                value,
                deadline=deadline,
                allow_stream=False,
                model_id=model_id,
                headers=metadata,
                intermediates=intermediates,
            )
        # InvokeStream: its span ends with the first item (a generator cannot hold a span
        # current across its items); the output step's span covers the rest of the stream.
        with tracing.request_span(route.name, "grpc", metadata):
            return await route.runner.start(
                value,
                deadline=deadline,
                model_id=model_id,
                headers=metadata,
                intermediates=intermediates,
            )

    async def _abort(
        self, route: GraphRoute, error: RequestError, context: grpc.aio.ServicerContext
    ) -> None:
        origin = origin_of(error)
        self.metrics.error(route.name, "grpc", origin.kind)
        message = origin.message + origin.where()
        logger.info("graph %s: %s %s", route.name, code_of(error).name, message)
        await context.abort(code_of(error), message, trailing_metadata=error_metadata(error))


async def _parse(data: bytes, context: grpc.aio.ServicerContext) -> GraphRequest:
    try:
        request: GraphRequest = GraphRequest.FromString(data)
        return request
    except DecodeError as exc:
        # protobuf says "Error parsing message with type '...': <why>"; keep the why.
        why = str(exc).rpartition("': ")[2] or "corrupt"
        error = BadRequest(f"the request is not a valid braid.v1.GraphRequest: {why}")
        logger.info("gRPC: %s", error.message)
        await context.abort(code_of(error), error.message, trailing_metadata=error_metadata(error))
        raise error from None  # pragma: no cover - abort raises


def _send_trailers(result: FlowResult, context: grpc.aio.ServicerContext) -> None:
    """Response headers that node code set (decision 0022) and the steps that degraded
    (decision 0021) go back as trailing metadata."""
    trailers = list(result.headers.items())
    if result.degraded:
        trailers.append((DEGRADED_HEADER, degraded_names(result.degraded)))
    if trailers:
        context.set_trailing_metadata(tuple(trailers))


def _with_intermediates(reply: GraphReply, values: Mapping[str, Any]) -> GraphReply:
    """``reply`` with the intermediate results: JSON text, else a codec map."""
    try:
        reply.intermediates_json = json.dumps(values, separators=(",", ":"))
    except (TypeError, ValueError):  # bytes or arrays: braid's codec carries them as they are
        reply.intermediates.CopyFrom(encode(dict(values)))
    return reply


def _serialize(reply: GraphReply | bytes) -> bytes:
    """A reply, unless it is serialized already (a raw output, framed by ``framed_reply``)."""
    return reply if isinstance(reply, bytes) else reply.SerializeToString()


def _graph_handler(service: GraphService) -> grpc.GenericRpcHandler:
    """``braid.v1.Graph`` with bytes in (braid parses them) and ``GraphReply`` out."""
    return grpc.method_handlers_generic_handler(
        GRAPH_SERVICE,
        {
            "Invoke": grpc.unary_unary_rpc_method_handler(
                service.invoke_bytes, response_serializer=_serialize
            ),
            "InvokeStream": grpc.unary_stream_rpc_method_handler(
                service.invoke_stream_bytes, response_serializer=_serialize
            ),
        },
    )


class GrpcIngress:
    """The ingress's gRPC server: the Graph service, health and reflection."""

    def __init__(self, service: GraphService, *, reuse_port: bool = False) -> None:
        # gRPC itself refuses anything over the largest graph's limit before reading it whole;
        # each graph's own limit is checked per request (RequestTooLarge).
        largest = max((route.max_request_bytes for route in service.routes.routes), default=0)
        options = [o for o in server_options(reuse_port=reuse_port) if "receive" not in o[0]]
        options.append(("grpc.max_receive_message_length", largest + _HEADROOM_BYTES))
        self.server = grpc.aio.server(options=options)
        self.health = health.aio.HealthServicer()
        self.server.add_generic_rpc_handlers((_graph_handler(service),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        # The Open Inference Protocol beside braid.v1.Graph (decision 0017).
        add_inference_service(self.server, InferenceGrpc(service.routes, service.metrics))
        reflection.enable_server_reflection(
            (GRAPH_SERVICE, INFERENCE_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME),
            self.server,
        )
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self.port = self.server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen for gRPC on {host}:{port} (is the port in use?)")
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(GRAPH_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()

    async def set_ready(self, ready: bool) -> None:
        status = health_pb2.HealthCheckResponse
        await self.health.set(GRAPH_SERVICE, status.SERVING if ready else status.NOT_SERVING)

    async def close(self, grace: float = 1.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
