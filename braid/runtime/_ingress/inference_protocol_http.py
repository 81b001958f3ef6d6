"""The Open Inference Protocol (KServe v2) over the ingress's HTTP port: the ``/v2`` paths.

=======  ==============================================  ===============================
GET      ``/v2/health/live``, ``/v2/health/ready``       200, or 503 when not ready
GET      ``/v2``                                         server metadata
GET      ``/v2/models/<graph>[/versions/1]``             model metadata
GET      ``/v2/models/<graph>[/versions/1]/ready``       200, or 503 when not ready
=======  ==============================================  ===============================

The protocol asks only for the status of the health paths; their bodies are KServe's model
server's (``{"live": true}``, ``{"ready": false}``, ``{"name": ..., "ready": ...}``), because the
``kserve`` client reads them.

=======  ==============================================  ===============================
POST     ``/v2/models/<graph>[/versions/1]/infer``       inference
=======  ==============================================  ===============================

An inference request is JSON, or JSON followed by the raw data of some inputs when it carries an
``Inference-Header-Content-Length`` header (the binary tensor data extension, which tritonclient
uses by default). Outputs go back as binary data when the request asks for it (an output's
``"binary_data": true``, or the request's ``"binary_data_output": true``). Errors are
``{"error": "..."}`` with 400 (malformed), 404 (unknown model or path), 503 (overload, not ready)
or the graph's failure's status, as the protocol's servers answer them.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from braid.runtime._ingress import inference_protocol as oip
from braid.runtime._ingress.http_asgi import HttpRequest, Responder
from braid.runtime._ingress.metrics import IngressMetrics
from braid.runtime._ingress.rendering import parse_json
from braid.runtime._ingress.routes import GraphRoute, RouteTable, parse_timeout
from braid.runtime._wire import tensors, tracing
from braid.runtime._wire.errors import (
    BadRequest,
    NotFound,
    Overloaded,
    RequestError,
    http_status_of,
    origin_of,
)
from braid.runtime._wire.tensors import Tensor, TensorError

logger = logging.getLogger(__name__)

PREFIX = "/v2"
_MODEL_PATH = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?$")
_HEADER_LENGTH = "inference-header-content-length"
_PROTOCOL = "http-v2"


def is_inference_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class InferenceHttp:
    """Serves the ``/v2`` paths (see the module docstring)."""

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
        self.draining = False

    def route_of(self, path: str) -> GraphRoute | None:
        """The graph a ``/v2/models/<name>/...`` path names (for its body's limits)."""
        match = _MODEL_PATH.match(path)
        return self.routes.by_name(match.group(1)) if match else None

    async def __call__(self, request: HttpRequest, responder: Responder) -> None:
        try:
            await self._serve(request, responder)
        except RequestError as error:
            await _send_error(responder, error)

    async def _serve(self, request: HttpRequest, responder: Responder) -> None:
        path = request.path.rstrip("/") or "/"
        if path in ("/v2/health/live", "/v2/health/ready", "/v2"):
            _allow(request, "GET")
            if path == "/v2":
                await _send_json(responder, 200, oip.server_metadata())
            elif path.endswith("live"):
                await _send_json(responder, 200, {"live": True})
            else:
                ready = not self.draining and not self.routes.missing_nodes()
                await _send_json(responder, 200 if ready else 503, {"ready": ready})
            return
        match = _MODEL_PATH.match(path)
        if match is None:
            raise NotFound(f"no Open Inference Protocol path {request.path[:200]}")
        name, version, action = match.group(1), match.group(2) or "", match.group(3) or ""
        route = oip.find_model(self.routes, name, version)
        if action == "/infer":
            _allow(request, "POST")
            await self._infer(route, request, responder)
            return
        _allow(request, "GET")
        if action == "/ready":
            ready = not self.draining and not route.missing_nodes()
            await _send_json(responder, 200 if ready else 503, {"name": name, "ready": ready})
        else:
            await _send_json(responder, 200, oip.metadata_json(oip.model_metadata(route)))

    async def _infer(self, route: GraphRoute, request: HttpRequest, responder: Responder) -> None:
        started, status = self.clock(), "499"
        trace = tracing.request_span(route.name, "http-v2", request.headers)
        with self.metrics.tracking(route.name, _PROTOCOL), trace:
            try:
                body, inputs = parse_infer_request(request.body, request.headers)
                timeout = request.headers.get("x-request-timeout")
                deadline = route.deadline(parse_timeout(timeout) if timeout else None)
                if request.deadline is not None:
                    deadline = min(deadline, request.deadline)
                wanted, binary = _wanted_outputs(body)
                outputs = await oip.infer(route, inputs, wanted, deadline=deadline)
                reply, head_length = render_infer_response(
                    route.name, body.get("id"), outputs, binary
                )
                headers = {}
                if head_length is not None:
                    headers["Inference-Header-Content-Length"] = str(head_length)
                kind = "application/octet-stream" if head_length is not None else "application/json"
                await responder.send(200, reply, content_type=kind, headers=headers)
                status = "200"
            except RequestError as error:
                status = str(http_status_of(error))
                self.metrics.error(route.name, _PROTOCOL, origin_of(error).kind)
                logger.info("model %s: %s %s", route.name, status, origin_of(error).message)
                raise
            finally:
                self.metrics.observe(route.name, _PROTOCOL, status, self.clock() - started)


def _allow(request: HttpRequest, method: str) -> None:
    if request.method != method and not (method == "GET" and request.method == "HEAD"):
        raise MethodNotAllowed(f"{request.method[:20]} is not allowed on {request.path[:200]}")


class MethodNotAllowed(BadRequest):
    http_status = 405


async def _send_json(responder: Responder, status: int, value: Any) -> None:
    await responder.send(status, json.dumps(value, separators=(",", ":")).encode())


async def _send_error(responder: Responder, error: RequestError) -> None:
    origin = origin_of(error)
    where = ""
    if origin.node:
        where = f' (node "{origin.node}"' + (f', step "{origin.step}")' if origin.step else ")")
    headers = {}
    if isinstance(origin, Overloaded):
        headers["Retry-After"] = str(max(1, math.ceil(origin.retry_after)))
    elif http_status_of(error) == 503:
        headers["Retry-After"] = "1"
    if responder.started:
        return
    message = origin.message + origin.where()
    if where and origin.node not in message:
        message += where
    await _send_json_error(responder, http_status_of(error), message, headers)


async def _send_json_error(
    responder: Responder, status: int, message: str, headers: Mapping[str, str]
) -> None:
    body = json.dumps({"error": message}).encode()
    await responder.send(status, body, headers=headers)


def parse_infer_request(
    data: bytes, headers: Mapping[str, str]
) -> tuple[dict[str, Any], list[Tensor]]:
    """An inference request's JSON and its input tensors (binary data after the JSON when the
    ``Inference-Header-Content-Length`` header says how long the JSON is)."""
    length_text = headers.get(_HEADER_LENGTH)
    if length_text is None:
        head, rest = data, b""
    else:
        if not length_text.strip().isdecimal() or int(length_text) > len(data):
            raise BadRequest(
                f"Inference-Header-Content-Length {length_text[:20]!r} is not a length within "
                f"the body's {len(data)} bytes"
            )
        head, rest = data[: int(length_text)], data[int(length_text) :]
    body = parse_json(head, what="inference request")
    if not isinstance(body, dict):
        raise BadRequest('an inference request is a JSON object with "inputs"')
    raw_inputs = body.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadRequest('an inference request needs "inputs": a list of tensors')
    inputs, offset = [], 0
    try:
        for index, item in enumerate(raw_inputs):
            tensor, offset = _input_tensor(index, item, rest, offset)
            inputs.append(tensor)
    except TensorError as exc:
        raise oip.bad_tensor(exc) from None
    if offset != len(rest):
        raise BadRequest(
            f"the request carries {len(rest)} bytes of binary data but its inputs use {offset}"
        )
    return body, inputs


def _input_tensor(index: int, item: Any, rest: bytes, offset: int) -> tuple[Tensor, int]:
    """One input tensor of a request, and the offset of the next one's binary data."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise BadRequest(f"inputs[{index}] needs a name, a datatype and a shape")
    name, datatype = item["name"], item.get("datatype")
    if not isinstance(datatype, str):
        raise BadRequest(f'tensor "{name}" needs a datatype')
    parameters = item.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BadRequest(f'tensor "{name}": binary_data_size {size!r} is not a length')
        if offset + size > len(rest):
            raise BadRequest(
                f'tensor "{name}": binary_data_size {size} runs past the {len(rest)} bytes of '
                "binary data"
            )
        raw = rest[offset : offset + size]
        return tensors.from_raw(name, datatype, item.get("shape", ()), raw), offset + size
    if "data" not in item:
        raise BadRequest(f'tensor "{name}" has no "data" and no binary_data_size')
    return tensors.from_json(name, datatype, item.get("shape", ()), item["data"]), offset


def _wanted_outputs(body: dict[str, Any]) -> tuple[list[str], dict[str, bool]]:
    """The requested output names, and per name whether it goes back as binary data."""
    parameters = body.get("parameters")
    default = bool(isinstance(parameters, dict) and parameters.get("binary_data_output"))
    outputs = body.get("outputs") or []
    if not isinstance(outputs, list):
        raise BadRequest('"outputs" must be a list of {"name": ...}')
    names, binary = [], {"": default}
    for index, item in enumerate(outputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(f"outputs[{index}] needs a name")
        names.append(item["name"])
        params = item.get("parameters")
        if isinstance(params, dict) and "binary_data" in params:
            binary[item["name"]] = bool(params["binary_data"])
    return names, binary


def render_infer_response(
    model: str, request_id: Any, outputs: list[Tensor], binary: dict[str, bool]
) -> tuple[bytes, int | None]:
    """The response body, and the JSON's length when binary data follow it."""
    described, buffers = [], []
    try:
        for tensor in outputs:
            entry: dict[str, Any] = {
                "name": tensor.name,
                "datatype": tensor.datatype,
                "shape": tensor.shape,
            }
            if binary.get(tensor.name, binary[""]):
                raw = tensors.raw_data(tensor)
                entry["parameters"] = {"binary_data_size": len(raw)}
                buffers.append(raw)
            else:
                entry["data"] = tensors.json_data(tensor)
            described.append(entry)
    except TensorError as exc:
        raise BadRequest(exc.message) from None
    reply: dict[str, Any] = {
        "model_name": model,
        "model_version": oip.MODEL_VERSION,
        "outputs": described,
    }
    if isinstance(request_id, str) and request_id:
        reply["id"] = request_id
    head = json.dumps(reply, separators=(",", ":")).encode()
    if not buffers:
        return head, None
    return head + b"".join(buffers), len(head)
