"""The Open Inference Protocol (KServe v2) at the ingress: what HTTP and gRPC share.

Each graph the ingress serves is one v2 model, named after the graph, with one version, ``"1"``
(a request may name that version or none). The model is ready when every node of the graph has
a ready replica; the server is ready when every model is. An inference request's input tensors
become the graph's input and the graph's output becomes output tensors, by the rules of
:mod:`braid.runtime._wire.tensors`. :mod:`~braid.runtime._ingress.inference_protocol_http` and
:mod:`~braid.runtime._ingress.inference_protocol_grpc` are the two wire forms on top of this
(decision 0017).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from braid._version import __version__
from braid.runtime._ingress.routes import GraphRoute, RouteTable
from braid.runtime._wire import tensors
from braid.runtime._wire.errors import BadRequest, NotFound, RequestError
from braid.runtime._wire.tensors import Tensor, TensorError

#: The version every graph is served as (a graph has no versions of its own in the protocol).
MODEL_VERSION = "1"
SERVER_NAME = "braid"
#: Triton's platform string for a pipeline of models is "ensemble"; a graph is one.
PLATFORM = "braid-graph"
EXTENSIONS = ("binary_tensor_data",)


class UnknownModel(NotFound):
    """A model (graph) or version the ingress does not serve."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    datatype: str
    shape: list[int]


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


def server_metadata() -> dict[str, object]:
    return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}


def find_model(routes: RouteTable, name: str, version: str = "") -> GraphRoute:
    """The graph served as model ``name``; :class:`UnknownModel` names what is served."""
    route = routes.by_name(name) if name else None
    if route is None:
        served = ", ".join(routes.names())
        raise UnknownModel(f"unknown model {json.dumps(name[:100])}; this server has {served}")
    if version not in ("", MODEL_VERSION):
        raise UnknownModel(
            f'model "{name}" has no version {json.dumps(version[:40])}; it serves version '
            f'"{MODEL_VERSION}"'
        )
    return route


def model_metadata(route: GraphRoute) -> ModelMetadata:
    """The model's metadata: its inputs and outputs are what the graph takes (any datatype and
    shape, so ``-1`` dimensions and the datatype ``BYTES`` as a placeholder are not claimed)."""
    flow = route.graph.spec.flow
    return ModelMetadata(
        name=route.name,
        versions=[MODEL_VERSION],
        platform=PLATFORM,
        inputs=[TensorSpec(flow.input, "", [-1])],
        outputs=[TensorSpec(tensors.DEFAULT_OUTPUT.format(0), "", [-1])],
    )


def metadata_json(meta: ModelMetadata) -> dict[str, object]:
    def spec(tensor: TensorSpec) -> dict[str, object]:
        return {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}

    return {
        "name": meta.name,
        "versions": meta.versions,
        "platform": meta.platform,
        "inputs": [spec(t) for t in meta.inputs],
        "outputs": [spec(t) for t in meta.outputs],
    }


def bad_tensor(error: TensorError) -> BadRequest:
    return BadRequest(error.message)


async def infer(
    route: GraphRoute, inputs: Sequence[Tensor], wanted: Sequence[str], *, deadline: float
) -> list[Tensor]:
    """Run the graph on the input tensors; its output tensors, only ``wanted`` ones if given."""
    if not inputs:
        raise BadRequest(f'an inference request for model "{route.name}" needs input tensors')
    names = [tensor.name for tensor in inputs]
    if len(set(names)) != len(names):
        raise BadRequest(f"input tensor names must be unique; got {', '.join(names)}")
    result = await route.runner.start(tensors.input_value(inputs), deadline=deadline)
    if result.streaming:
        await result.close()
        raise BadRequest(
            f'graph "{route.name}" streams its output, which an inference response cannot carry; '
            "call it at its route (Server-Sent Events) or with braid.v1.Graph/InvokeStream"
        )
    output = result.value
    try:
        outputs = tensors.output_tensors(output.value())
    except TensorError as exc:
        raise RequestError(
            f'graph "{route.name}": its output cannot be answered as tensors: {exc.message}',
            node=output.node,
            step=output.step,
        ) from None
    if not wanted:
        return outputs
    by_name = {tensor.name: tensor for tensor in outputs}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise BadRequest(
            f'model "{route.name}" has no output {", ".join(missing)}; its outputs for this '
            f"request are {', '.join(by_name)}"
        )
    return [by_name[name] for name in wanted]
