"""The inference node's executor against a v2 gRPC server written here (grpc.aio, in process)."""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np
import pytest

from braid.runtime._proto import inference_pb2 as pb
from braid.runtime._proto import inference_pb2_grpc
from braid.runtime._replica.arguments import Arguments
from braid.runtime._replica.inference_executor import InferenceExecutor
from braid.runtime._wire.codec import encode
from braid.runtime._wire.errors import BadRequest, UserCodeError
from braid.spec import InferenceServer


class Doubler(inference_pb2_grpc.GRPCInferenceServiceServicer):
    """Model "double": one INT64 input "IN", output "OUT" = 2 * IN, raw contents both ways."""

    async def ModelMetadata(self, request, context):  # type: ignore[no-untyped-def]
        reply = pb.ModelMetadataResponse(name=request.name)
        reply.inputs.add(name="IN", datatype="INT64", shape=[-1])
        return reply

    async def ModelInfer(self, request, context):  # type: ignore[no-untyped-def]
        if request.model_name != "double":
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no model {request.model_name}")
        (tensor,) = request.inputs
        values = np.frombuffer(request.raw_input_contents[0], dtype="<i8") * 2
        reply = pb.ModelInferResponse(model_name="double")
        reply.outputs.add(name="OUT", datatype="INT64", shape=list(tensor.shape))
        reply.raw_output_contents.append(values.tobytes())
        return reply


@pytest.fixture
async def port() -> object:
    server = grpc.aio.server()
    inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(Doubler(), server)  # type: ignore[no-untyped-call]
    bound = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield bound
    await server.stop(None)


def _args(*args: Any, **kwargs: Any) -> Arguments:
    """A call's arguments as a sidecar hands them to its executor: encoded."""
    return Arguments(encode([list(args), kwargs]))


def _executor(port: int, model: str = "double") -> InferenceExecutor:
    server = InferenceServer.model_validate({"model": model, "protocol": "grpc", "port": port})
    return InferenceExecutor("doubler", server, port)


async def test_one_value_is_the_only_input_learnt_from_metadata(port: int) -> None:
    executor = _executor(port)
    try:
        result = await executor.call("infer", _args(np.array([1, 2], dtype=np.int64)), "twice")
        assert result.tolist() == [2, 4]
        named = await executor.call("infer", _args(IN=np.array([5], dtype=np.int64)), "twice")
        assert named.tolist() == [10]
    finally:
        await executor.close()


async def test_a_server_error_names_the_node_step_and_model(port: int) -> None:
    executor = _executor(port, model="triple")
    try:
        with pytest.raises(
            UserCodeError,
            match=r'inference node "doubler" \(step "s"\): model "triple" answered NOT_FOUND',
        ):
            await executor.call("infer", _args(IN=np.array([1])), "s")
        with pytest.raises(BadRequest, match='has no method "predict"'):
            await executor.call("predict", _args(1), "s")
    finally:
        await executor.close()
