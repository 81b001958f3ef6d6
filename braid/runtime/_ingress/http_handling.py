"""The HTTP side of the ingress: graph requests as JSON or bytes, answers as JSON, bytes or streams.

Routes:

- ``POST <routePrefix>`` with the graph input as the body: JSON (``application/json``, or no
  type, ``text/plain`` or ``application/x-www-form-urlencoded``, which is what ``curl -d``
  sends) or raw bytes (``application/octet-stream``); ``GET <routePrefix>`` runs the graph on
  ``null``, or on the JSON in ``?input=``. The longest route prefix wins.
- ``/v2/...``: the Open Inference Protocol (KServe v2), in
  :mod:`~braid.runtime._ingress.inference_protocol_http`; these paths are never a graph's route.
- ``GET /-/healthz`` (the process is up), ``GET /-/ready`` (every node of every graph has a ready
  replica; 503 with the missing ones otherwise), ``GET /-/routes`` (prefix to graph name), and
  the live graph pages under ``GET /-/graph`` (:mod:`braid.runtime._ingress.graph_page`).

A client may shorten the graph's deadline with ``X-Request-Timeout: <seconds>``, and ask for
intermediate results with ``X-Braid-Intermediates: step,step`` (steps in ``flow.expose``): the
answer is then ``{"output": ..., "intermediates": {step: value}}``. Response headers that node
code set (``braid.request_context()``) go out with the answer. A result that is
bytes goes out as ``application/octet-stream``; other results as JSON. A streaming result goes
out item by item: Server-Sent Events when the client accepts ``text/event-stream``, JSON lines
(``application/x-ndjson``) otherwise; an error midway ends the stream with an ``error`` event or
line. Errors are ``{"error": {"kind", "message", "node", "step"}}`` with the error's HTTP status,
and ``Retry-After`` on 503. A response whose optional steps fell back, or whose quorum joins
went on without some inputs, names those steps in ``Braid-Degraded``; a client that sends
``Braid-Report: degraded`` gets ``{"output": ..., "degraded": [{"step", "reason", "message"}]}``
as the JSON body instead (decision 0021).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable

from braid.runtime._flow.outputs import INTERMEDIATES_HEADER, parse_intermediates
from braid.runtime._flow.results import FlowResult
from braid.runtime._ingress.graph_page import PREFIX as PAGES
from braid.runtime._ingress.graph_page import GraphPages
from braid.runtime._ingress.http_asgi import BodyLimits, HttpRequest, Responder, sse_event
from braid.runtime._ingress.http_protocol import error_body
from braid.runtime._ingress.inference_protocol_http import InferenceHttp, is_inference_path
from braid.runtime._ingress.metrics import IngressMetrics
from braid.runtime._ingress.rendering import (
    DEGRADED_HEADER,
    REPORT_HEADER,
    degraded_json,
    degraded_names,
    output_json,
    parse_json,
    raw_bytes,
    to_json,
)
from braid.runtime._ingress.routes import (
    MODEL_ID_HEADER,
    GraphRoute,
    RouteTable,
    parse_model_id,
    parse_timeout,
)
from braid.runtime._wire import tracing
from braid.runtime._wire.errors import (
    BadRequest,
    Overloaded,
    ReplicaUnavailable,
    RequestError,
    http_status_of,
    origin_of,
)

logger = logging.getLogger(__name__)

_JSON_TYPES = frozenset(
    {"", "application/json", "text/plain", "application/x-www-form-urlencoded", "text/json"}
)
_BYTES_TYPES = frozenset({"application/octet-stream"})
_TIMEOUT_HEADER = "x-request-timeout"


class HttpIngress:
    """The HTTP request handler of the ingress (see the module docstring for the routes)."""

    def __init__(
        self,
        routes: RouteTable,
        metrics: IngressMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        pages: GraphPages | None = None,
    ) -> None:
        self.routes = routes
        self.metrics = metrics
        self.pages = pages
        self.clock = clock
        #: The Open Inference Protocol's ``/v2`` paths (decision 0017).
        self.inference = InferenceHttp(routes, metrics, clock=clock)

    @property
    def draining(self) -> bool:
        """Stopping: readiness is false at once."""
        return self.inference.draining

    @draining.setter
    def draining(self, value: bool) -> None:
        self.inference.draining = value

    def body_limits(self, request: HttpRequest) -> BodyLimits:
        """The largest body this request may carry (its graph's maxRequestBytes), and its
        deadline, which the body must beat (the graph's, or a shorter X-Request-Timeout)."""
        if is_inference_path(request.path):
            route = self.inference.route_of(request.path)
        else:
            route = self.routes.match(request.path)
        if route is None or request.path.startswith("/-/"):
            return BodyLimits(max_bytes=64 * 1024, deadline=self.clock() + 10.0)
        timeout = request.headers.get(_TIMEOUT_HEADER)
        try:
            requested = parse_timeout(timeout) if timeout is not None else None
        except BadRequest:
            requested = None  # refused with its message once the body is in
        return BodyLimits(max_bytes=route.max_request_bytes, deadline=route.deadline(requested))

    async def __call__(self, request: HttpRequest, responder: Responder) -> None:
        if request.path.startswith("/-/"):
            await self._admin(request, responder)
            return
        if is_inference_path(request.path):
            await self.inference(request, responder)
            return
        route = self.routes.match(request.path)
        if route is None:
            known = ", ".join(sorted(route.prefix for route in self.routes.routes))
            await responder.send_error(
                404, "NotFound", f"no graph is served at {request.path[:200]}; routes: {known}"
            )
            return
        if request.method not in ("GET", "POST"):
            await responder.send_error(
                405,
                "MethodNotAllowed",
                f"{request.method[:20]} is not allowed on {route.prefix}; use POST (or GET)",
                headers={"Allow": "GET, POST"},
            )
            return
        started = self.clock()
        status = "499"
        trace = tracing.request_span(route.name, "http", request.headers)
        with self.metrics.tracking(route.name, "http"), trace:
            try:
                await self._run(route, request, responder)
                status = str(responder.status)
            except RequestError as error:
                tracing.fail_current(error)
                status = str(http_status_of(error))
                self.metrics.error(route.name, "http", origin_of(error).kind)
                await self._send_error(route, error, responder)
            finally:
                self.metrics.observe(route.name, "http", status, self.clock() - started)

    async def _run(self, route: GraphRoute, request: HttpRequest, responder: Responder) -> None:
        value = _input_of(request)
        timeout = request.headers.get(_TIMEOUT_HEADER)
        deadline = route.deadline(parse_timeout(timeout) if timeout is not None else None)
        if request.deadline is not None:  # it began when the request's head arrived
            deadline = min(deadline, request.deadline)
        model_id = parse_model_id(request.headers.get(MODEL_ID_HEADER))
        result = await route.runner.start(
            value,
            deadline=deadline,
            model_id=model_id,
            headers=request.headers,
            intermediates=parse_intermediates(request.headers.get(INTERMEDIATES_HEADER)),
        )
        if result.streaming:
            await self._stream(route, result, request, responder)
            return
        output = result.value
        degraded = result.degraded
        headers = dict(result.headers)  # set by node code (decision 0022)
        if degraded:  # decision 0021
            headers[DEGRADED_HEADER] = degraded_names(degraded)
        raw = raw_bytes(output)
        if result.intermediates is not None:  # {"output": ..., "intermediates": {step: ...}}
            body = b'{"output":%s,"intermediates":%s}\n' % (
                to_json(output.value()) if raw is not None else output_json(output),
                to_json(result.intermediates),
            )
            await responder.send(200, body, headers=headers)
        elif raw is not None:
            await responder.send(200, raw, content_type="application/octet-stream", headers=headers)
        elif degraded and "degraded" in request.headers.get(REPORT_HEADER, ""):
            body = degraded_json(output_json(output), degraded)
            await responder.send(200, body + b"\n", headers=headers)
        else:
            await responder.send(200, output_json(output) + b"\n", headers=headers)

    async def _stream(
        self, route: GraphRoute, result: FlowResult, request: HttpRequest, responder: Responder
    ) -> None:
        sse = "text/event-stream" in request.headers.get("accept", "")
        await responder.start_stream(
            "text/event-stream" if sse else "application/x-ndjson", headers=result.headers
        )
        try:
            async for item in result.items():
                data = output_json(item)
                await responder.write_chunk(sse_event(data) if sse else data + b"\n")
        except RequestError as error:
            tracing.fail_current(error)
            origin = origin_of(error)
            self.metrics.error(route.name, "http", origin.kind)
            logger.info("graph %s: stream failed midway: %s", route.name, origin.message)
            body = _error_body(origin)
            await responder.write_chunk(sse_event(body.strip(), "error") if sse else body)
        await responder.end_stream()

    async def _send_error(
        self, route: GraphRoute, error: RequestError, responder: Responder
    ) -> None:
        origin = origin_of(error)
        status = http_status_of(error)
        logger.info("graph %s: %d %s", route.name, status, origin.message)
        if responder.started:  # the stream has begun; _stream reported it
            return
        headers = {}
        if isinstance(origin, Overloaded):
            headers["Retry-After"] = str(max(1, math.ceil(origin.retry_after)))
        elif isinstance(origin, ReplicaUnavailable):
            headers["Retry-After"] = "1"
        await responder.send(status, _error_body(origin), headers=headers)

    async def _admin(self, request: HttpRequest, responder: Responder) -> None:
        if request.method != "GET":
            await responder.send_error(405, "MethodNotAllowed", "use GET", headers={"Allow": "GET"})
            return
        if request.path == PAGES or request.path.startswith(PAGES + "/"):
            if self.pages is None:
                await responder.send_error(404, "NotFound", "this ingress serves no graph pages")
            else:
                await self.pages(request, responder)
        elif request.path == "/-/healthz":
            await responder.send(200, b'{"status":"ok"}\n')
        elif request.path == "/-/ready":
            missing = self.routes.missing_nodes()
            ready = not missing and not self.draining
            state = {"ready": ready, "missing": missing, "draining": self.draining}
            await responder.send(200 if ready else 503, json.dumps(state).encode() + b"\n")
        elif request.path == "/-/routes":
            routes = {route.prefix: route.name for route in self.routes.routes}
            await responder.send(200, json.dumps(routes).encode() + b"\n")
        else:
            await responder.send_error(404, "NotFound", f"no admin route {request.path[:100]}")


def _error_body(error: RequestError) -> bytes:
    """``{"error": {...}}``: kind, message (with the path of handle calls), node, step, and the
    error's other fields (``path``, ``type`` and ``exc_message`` of user code, ``retry_after``)."""
    details = error.details()
    return error_body(
        error.kind, error.message + error.where(), node=error.node, step=error.step, extra=details
    )


def _input_of(request: HttpRequest) -> object:
    """The graph input carried by ``request``."""
    if request.method == "GET":
        if request.body:
            raise BadRequest("a GET request carries no body; POST the input instead")
        text = request.query.get("input")
        return None if text is None else parse_json(text.encode(), what="input query parameter")
    content_type = request.content_type
    if content_type in _BYTES_TYPES:
        return request.body
    if content_type in _JSON_TYPES or content_type.endswith("+json"):
        if not request.body.strip():
            raise BadRequest(
                "the request has no body; send the graph's input as JSON (e.g. -d '5')"
            )
        return parse_json(request.body)
    raise UnsupportedMediaType(
        f"unsupported Content-Type {content_type[:80]!r}; send application/json or "
        "application/octet-stream"
    )


class UnsupportedMediaType(BadRequest):
    http_status = 415
