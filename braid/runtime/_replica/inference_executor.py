"""The executor of an ``inference`` node: a step that calls an Open Inference Protocol server.

The node fronts a v2 server (Triton, MLServer, a KServe runtime) on 127.0.0.1 in its pod, and
each call of ``node.infer`` becomes one inference request for the node's model:

- arguments to input tensors: keyword arguments, or one dict argument, name their tensors
  (``kwargs: {INPUT0: $x}``); one other positional argument is the model's only input, whose
  name the executor learns once from the model's metadata;
- each value becomes a tensor by :func:`braid.runtime._wire.tensors.to_tensor` (arrays, numbers,
  lists of numbers; bytes or strings as BYTES);
- the answer: one output tensor comes back as its array (BYTES as a list of bytes), several as a
  dict of name to array; ``inference.outputs`` asks for some outputs only, in its order.

Over ``http`` the request and response are the protocol's JSON; over ``grpc`` the tensors travel
as raw contents. A server's error becomes a :class:`UserCodeError` naming the node, the step and
the server's message; an unreachable server is :class:`ReplicaUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc

from braid.runtime._proto import inference_pb2 as pb
from braid.runtime._proto import inference_pb2_grpc
from braid.runtime._replica.arguments import Arguments
from braid.runtime._replica.executors import ServerExecutor, _parse_http_response
from braid.runtime._wire import tensors
from braid.runtime._wire.errors import BadRequest, ReplicaUnavailable, UserCodeError
from braid.runtime._wire.tensors import Tensor, TensorError
from braid.spec import CALL_METHOD, INFER_METHOD, InferenceProtocol, InferenceServer


class InferenceExecutor(ServerExecutor):
    """Calls the node's model on its v2 server (see the module docstring)."""

    def __init__(
        self, node: str, server: InferenceServer, port: int, *, host: str = "127.0.0.1"
    ) -> None:
        self.node = node
        self.server = server
        self._host, self._port = host, port
        self._address = f"{host}:{port}"
        self._channel: grpc.aio.Channel | None = None
        self._only_input: str | None = None

    @property
    def _model_path(self) -> str:
        path = f"/v2/models/{self.server.model}"
        return path + (f"/versions/{self.server.version}" if self.server.version else "")

    async def call(self, method: str, arguments: Arguments, step: str) -> Any:
        if method not in (INFER_METHOD, CALL_METHOD):
            raise BadRequest(
                f'inference node "{self.node}" has no method "{method}"; call it as '
                f"{self.node}.{INFER_METHOD}",
                node=self.node,
                step=step,
            )
        args, kwargs = arguments.decode()
        named = await self._named_inputs(args, kwargs, step)
        try:
            inputs = [tensors.to_tensor(name, value) for name, value in named.items()]
        except TensorError as exc:
            raise BadRequest(
                f'inference node "{self.node}" (step "{step}"): {exc.message}',
                node=self.node,
                step=step,
            ) from None
        if self.server.protocol is InferenceProtocol.GRPC:
            outputs = await self._infer_grpc(inputs, step)
        else:
            outputs = await self._infer_http(inputs, step)
        if len(outputs) == 1:
            return outputs[0].value
        return {tensor.name: tensor.value for tensor in outputs}

    async def _named_inputs(
        self, args: list[Any], kwargs: dict[str, Any], step: str
    ) -> dict[str, Any]:
        if kwargs and not args:
            return dict(kwargs)
        if len(args) == 1 and not kwargs:
            if isinstance(args[0], dict) and args[0]:
                return {str(key): value for key, value in args[0].items()}
            return {await self._input_name(step): args[0]}
        raise BadRequest(
            f'inference node "{self.node}" takes its input tensors as keyword arguments, one '
            "dict of name to value, or one value for a model with one input",
            node=self.node,
            step=step,
        )

    async def _input_name(self, step: str) -> str:
        """The name of the model's only input, from its metadata (asked once)."""
        if self._only_input is not None:
            return self._only_input
        if self.server.protocol is InferenceProtocol.GRPC:
            stub = inference_pb2_grpc.GRPCInferenceServiceStub(self._grpc())  # type: ignore[no-untyped-call]
            request = pb.ModelMetadataRequest(
                name=self.server.model, version=self.server.version or ""
            )
            try:
                reply = await stub.ModelMetadata(request)
            except grpc.aio.AioRpcError as exc:
                raise self._grpc_error(exc, step) from None
            names = [spec.name for spec in reply.inputs]
        else:
            status, data = await self._request("GET", self._model_path, b"", step)
            body = self._json(status, data, step)
            names = [str(spec.get("name")) for spec in body.get("inputs", [])]
        if len(names) != 1:
            raise BadRequest(
                f'model "{self.server.model}" of inference node "{self.node}" has inputs '
                f"{', '.join(names) or '(none listed)'}; name them with keyword arguments",
                node=self.node,
                step=step,
            )
        name: str = names[0]
        self._only_input = name
        return name

    async def _infer_http(self, inputs: list[Tensor], step: str) -> list[Tensor]:
        try:
            described = [
                {
                    "name": tensor.name,
                    "datatype": tensor.datatype,
                    "shape": tensor.shape,
                    "data": tensors.json_data(tensor),
                }
                for tensor in inputs
            ]
        except TensorError as exc:
            raise BadRequest(
                f'inference node "{self.node}" (step "{step}"): {exc.message}; or set '
                "inference.protocol: grpc",
                node=self.node,
                step=step,
            ) from None
        body: dict[str, Any] = {"inputs": described}
        if self.server.outputs:
            body["outputs"] = [{"name": name} for name in self.server.outputs]
        status, data = await self._request(
            "POST", self._model_path + "/infer", json.dumps(body).encode(), step
        )
        reply = self._json(status, data, step)
        try:
            return [
                tensors.from_json(
                    str(out.get("name")),
                    str(out.get("datatype")),
                    out.get("shape", ()),
                    out.get("data"),
                )
                for out in reply.get("outputs", [])
            ]
        except TensorError as exc:
            raise self._server_error(f"answered a malformed tensor: {exc.message}", step) from None

    async def _infer_grpc(self, inputs: list[Tensor], step: str) -> list[Tensor]:
        request = pb.ModelInferRequest(
            model_name=self.server.model, model_version=self.server.version or ""
        )
        for tensor in inputs:
            request.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
            request.raw_input_contents.append(tensors.raw_data(tensor))
        for name in self.server.outputs:
            request.outputs.add(name=name)
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(self._grpc())  # type: ignore[no-untyped-call]
        try:
            reply = await stub.ModelInfer(request)
        except grpc.aio.AioRpcError as exc:
            raise self._grpc_error(exc, step) from None
        raw = list(reply.raw_output_contents)
        try:
            return [
                tensors.from_raw(out.name, out.datatype, out.shape, raw[i])
                if raw
                else tensors.from_contents(out.name, out.datatype, out.shape, out.contents)
                for i, out in enumerate(reply.outputs)
            ]
        except (IndexError, TensorError) as exc:
            why = exc.message if isinstance(exc, TensorError) else "missing raw contents"
            raise self._server_error(f"answered a malformed tensor: {why}", step) from None

    async def _request(self, method: str, path: str, body: bytes, step: str) -> tuple[int, bytes]:
        """One HTTP/1.1 request to the server (a connection per call, as for ``http`` nodes)."""
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        except OSError as exc:
            raise ReplicaUnavailable(
                f'inference node "{self.node}": its server on {self._address} is not '
                f"reachable: {exc}",
                node=self.node,
                step=step,
            ) from exc
        try:
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {self._address}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        return _parse_http_response(raw, self.node, step)

    def _grpc(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._address)
        return self._channel

    def _json(self, status: int, data: bytes, step: str) -> dict[str, Any]:
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {"error": data[:300].decode(errors="replace")}
        if status >= 400 or not isinstance(body, dict):
            message = body.get("error", body) if isinstance(body, dict) else body
            raise self._server_error(f"answered {status}: {str(message)[:300]}", step)
        return body

    def _grpc_error(self, exc: grpc.aio.AioRpcError, step: str) -> Exception:
        if exc.code() is grpc.StatusCode.UNAVAILABLE:
            return ReplicaUnavailable(
                f'inference node "{self.node}": its server on {self._address} is not reachable',
                node=self.node,
                step=step,
            )
        return self._server_error(f"answered {exc.code().name}: {exc.details()}", step)

    def _server_error(self, what: str, step: str) -> UserCodeError:
        return UserCodeError(
            f'inference node "{self.node}" (step "{step}"): model "{self.server.model}" {what}',
            node=self.node,
            step=step,
            exc_type="InferenceServerError",
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
