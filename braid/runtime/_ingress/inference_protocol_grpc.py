"""The Open Inference Protocol (KServe v2) over the ingress's gRPC port.

``inference.GRPCInferenceService`` (``braid/runtime/_proto/inference.proto``) beside
``braid.v1.Graph``: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata and
ModelInfer. Input tensors come as typed ``contents`` or as ``raw_input_contents`` (one entry per
input, as tritonclient sends them); outputs always go back as ``raw_output_contents``, which
every client reads. Errors abort the call with the status of their kind (NOT_FOUND for an unknown
model, INVALID_ARGUMENT for a malformed tensor, the graph's failure's code otherwise) and a
message that names what is wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from braid._version import __version__
from braid.runtime._ingress import inference_protocol as oip
from braid.runtime._ingress.metrics import IngressMetrics
from braid.runtime._ingress.routes import RouteTable
from braid.runtime._proto import inference_pb2 as pb
from braid.runtime._proto import inference_pb2_grpc
from braid.runtime._wire import tensors, tracing
from braid.runtime._wire.client import DEADLINE_MARGIN
from braid.runtime._wire.errors import (
    BadRequest,
    RequestError,
    code_of,
    error_metadata,
    origin_of,
)
from braid.runtime._wire.tensors import Tensor, TensorError

logger = logging.getLogger(__name__)

INFERENCE_SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
_PROTOCOL = "grpc-v2"


def request_tensors(request: pb.ModelInferRequest) -> list[Tensor]:
    """The input tensors of a ``ModelInferRequest``; :class:`BadRequest` names a bad one."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; "
            "send one per input, in order"
        )
    found = []
    try:
        for index, item in enumerate(request.inputs):
            tensors.check_datatype(item.name, item.datatype)
            if raw:
                found.append(tensors.from_raw(item.name, item.datatype, item.shape, raw[index]))
                continue
            found.append(tensors.from_contents(item.name, item.datatype, item.shape, item.contents))
    except TensorError as exc:
        raise oip.bad_tensor(exc) from None
    return found


def infer_response(model: str, request_id: str, outputs: list[Tensor]) -> pb.ModelInferResponse:
    reply = pb.ModelInferResponse(model_name=model, model_version=oip.MODEL_VERSION, id=request_id)
    for tensor in outputs:
        reply.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        reply.raw_output_contents.append(tensors.raw_data(tensor))
    return reply


class InferenceGrpc(inference_pb2_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService`` over the ingress's graphs."""

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

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=not self.routes.missing_nodes())

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name=oip.SERVER_NAME,
            version=__version__,
            extensions=oip.EXTENSIONS,
        )

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        route = await self._find(request.name, request.version, context)
        return pb.ModelReadyResponse(ready=not route.missing_nodes())

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        route = await self._find(request.name, request.version, context)
        meta = oip.model_metadata(route)
        reply = pb.ModelMetadataResponse(
            name=meta.name, versions=meta.versions, platform=meta.platform
        )
        for spec in meta.inputs:
            reply.inputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        for spec in meta.outputs:
            reply.outputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        return reply

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        route = await self._find(request.model_name, request.model_version, context)
        started, code = self.clock(), "CANCELLED"
        trace = tracing.request_span(route.name, "grpc-v2", context.invocation_metadata())
        with self.metrics.tracking(route.name, _PROTOCOL), trace:
            try:
                inputs = request_tensors(request)
                requested = context.time_remaining()
                if requested is not None:
                    requested = max(requested - DEADLINE_MARGIN, 0.001)
                wanted = [output.name for output in request.outputs]
                outputs = await oip.infer(route, inputs, wanted, deadline=route.deadline(requested))
                try:
                    reply = infer_response(route.name, request.id, outputs)
                except TensorError as exc:
                    raise oip.bad_tensor(exc) from None
                code = "OK"
                return reply
            except RequestError as error:
                tracing.fail_current(error)
                code = code_of(error).name
                self.metrics.error(route.name, _PROTOCOL, origin_of(error).kind)
                await _abort(error, context)
                raise  # pragma: no cover - abort raises
            finally:
                self.metrics.observe(route.name, _PROTOCOL, code, self.clock() - started)

    async def _find(self, name: str, version: str, context: grpc.aio.ServicerContext) -> Any:
        try:
            return oip.find_model(self.routes, name, version)
        except RequestError as error:
            await _abort(error, context)
            raise  # pragma: no cover - abort raises


async def _abort(error: RequestError, context: grpc.aio.ServicerContext) -> None:
    origin = origin_of(error)
    message = origin.message + origin.where()
    logger.info("Open Inference Protocol: %s %s", code_of(error).name, message)
    await context.abort(code_of(error), message, trailing_metadata=error_metadata(error))


def add_inference_service(server: grpc.aio.Server, service: InferenceGrpc) -> None:
    # The generated stubs are untyped; the servicer above is typed against its messages.
    inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)  # type: ignore[no-untyped-call]
