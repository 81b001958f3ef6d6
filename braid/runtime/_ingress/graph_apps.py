"""A graph's own ASGI app (``spec.ingress.http.app``), mounted at the graph's route prefix.

A graph may serve its HTTP routes with an app of its own (FastAPI, Starlette or any ASGI app),
as Ray Serve's ``@serve.ingress(app)`` does. The ingress imports it once at start
(:func:`load_app`) and :class:`AppDispatcher` sends it every HTTP request whose longest matching
route prefix is its graph's; braid's admin paths (``/-/``), the Open Inference Protocol
(``/v2``) and the other graphs keep their own handling. gRPC is unchanged: it runs the flow.

What the app sees:

- ``scope["root_path"]`` is the route prefix (as a Starlette ``Mount`` sets it) and
  ``scope["path"]`` the whole path, so that its routes are written relative to the prefix and
  its OpenAPI page links to ``<prefix>/openapi.json``; the prefix itself is served as
  ``<prefix>/``;
- :data:`current_app_graph` names the graph being served, while the app is imported and while it
  serves a request: ``braid.ingress.flow()`` and ``braid.ingress.handle()`` read it;
- a body over the graph's ``maxRequestBytes`` is refused (413): at once for a
  ``Content-Length`` over it, before the app runs; for a chunked body as soon as the bytes the
  app has read pass it (the app then sees the client gone, and its own answer is dropped);
- its lifespan runs as uvicorn runs it (:class:`Lifespan`): startup before the ingress listens
  (a failed startup stops the ingress with the app's message), shutdown after it has drained,
  and the state its lifespan yields in every request's ``scope["state"]``. An app that does not
  speak the lifespan protocol (it raises on the lifespan scope) simply has none.

An exception that escapes the app is logged in one line (the graph, the app and the error, no
traceback) and answered 500 if the app had not begun its answer; the ingress serves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import logging
import sys
import sysconfig
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from braid.runtime._ingress.http_asgi import Receive, Scope, Send
from braid.runtime._ingress.http_protocol import error_body
from braid.runtime._ingress.inference_protocol_http import is_inference_path
from braid.runtime._ingress.metrics import IngressMetrics
from braid.runtime._ingress.routes import GraphRoute, IngressConfigError, RouteTable
from braid.runtime._wire import tracing

logger = logging.getLogger(__name__)

_BRAID_DIR = str(Path(__file__).parents[2])


@dataclass(frozen=True, slots=True)
class AppGraph:
    """The graph an app serves, and the ingress's event loop (for calls from threads)."""

    route: GraphRoute
    loop: asyncio.AbstractEventLoop


#: The graph whose app is being imported, or is serving the current request.
current_app_graph: contextvars.ContextVar[AppGraph | None] = contextvars.ContextVar(
    "braid_app_graph", default=None
)


def load_app(app_graph: AppGraph, code_dir: Path | None) -> Any:
    """Import the ASGI app that ``app_graph``'s graph names; :class:`IngressConfigError` says
    why it cannot be served (the graph, the app's path and the reason), never a traceback."""
    route = app_graph.route
    path = route.graph.spec.ingress.http.app or ""
    graph = route.name
    field = "spec.ingress.http.app"
    if code_dir is not None and str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    module_name, _, attribute = path.partition(":")
    token = current_app_graph.set(app_graph)
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        where = f" (looked in {code_dir} and the Python path)" if code_dir else ""
        raise IngressConfigError(
            f'graph "{graph}": cannot import the app "{path}" ({field}): {exc}{where}'
        ) from None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # user code may exit on import
        raise IngressConfigError(
            f'graph "{graph}": importing the app "{path}" ({field}) raised '
            f"{_described(exc)}{_where(exc)}"
        ) from None
    finally:
        current_app_graph.reset(token)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise IngressConfigError(
                f'graph "{graph}": module "{module_name}" has no attribute "{attribute}" ({field})'
            ) from None
    if not callable(target):
        raise IngressConfigError(
            f'graph "{graph}": "{path}" ({field}) is a {type(target).__name__}, not an ASGI app'
        )
    return target


def _described(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _last_line(message: str) -> str:
    """A lifespan failure's message without a traceback (Starlette sends the whole one): its
    last line, which names the exception."""
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Traceback"):
        return lines[-1].strip()
    return " ".join(lines)


def _where(exc: BaseException) -> str:
    """`` at FILE, line N``: the innermost frame of the user's code in ``exc``'s traceback."""
    ignored = (_BRAID_DIR, sysconfig.get_paths()["stdlib"], "<frozen ")
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(ignored)
    ]
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" at {exc.filename}, line {exc.lineno}"
    return f" at {frames[-1].filename}, line {frames[-1].lineno}" if frames else ""


class Lifespan:
    """The ASGI lifespan of one graph's app: startup, shutdown, and the state it yields."""

    def __init__(self, graph: AppGraph, app: Any, path: str) -> None:
        self.graph, self.app, self.path = graph, app, path
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Run the app's startup; :class:`IngressConfigError` when the app reports it failed."""
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        token = current_app_graph.set(self.graph)  # the task runs in a copy of this context
        try:
            self._task = asyncio.create_task(self._run(scope))
        finally:
            current_app_graph.reset(token)
        await self._inbox.put({"type": "lifespan.startup"})
        answer = await self._outbox.get()
        if answer is None:  # it raised or returned: no lifespan support, as uvicorn's "auto"
            self._task = None
            return
        if answer["type"] == "lifespan.startup.failed":
            await self._finish()
            reason = _last_line(answer.get("message") or "") or "no reason given"
            raise IngressConfigError(
                f'graph "{self.graph.route.name}": the app "{self.path}" failed to start: {reason}'
            )

    async def shutdown(self, timeout: float) -> None:  # noqa: ASYNC109 - the shutdown's bound
        """Run the app's shutdown, for at most ``timeout`` seconds."""
        if self._task is None or self._task.done():
            return
        await self._inbox.put({"type": "lifespan.shutdown"})
        try:
            async with asyncio.timeout(timeout):
                answer = await self._outbox.get()
        except TimeoutError:
            answer = {"type": "lifespan.shutdown.failed", "message": f"not done in {timeout} s"}
        if answer is not None and answer["type"] == "lifespan.shutdown.failed":
            logger.warning(
                'graph %s: the app "%s" failed to shut down: %s',
                self.graph.route.name,
                self.path,
                _last_line(answer.get("message") or "") or "no reason given",
            )
        await self._finish()

    async def _finish(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._inbox.get, self._send)
        except Exception as exc:
            logger.debug("graph %s: no lifespan: %s", self.graph.route.name, _described(exc))
        finally:
            self._outbox.put_nowait(None)

    async def _send(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)


class MountedApp:
    """One graph's app at its route prefix (see the module docstring)."""

    def __init__(
        self, graph: AppGraph, app: Any, metrics: IngressMetrics, *, path: str = ""
    ) -> None:
        self.graph = graph
        self.app = app
        self.metrics = metrics
        self.path = path or graph.route.graph.spec.ingress.http.app or ""
        prefix = graph.route.prefix.rstrip("/")
        self.root_path = prefix
        self.lifespan = Lifespan(graph, app, self.path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.graph.route
        child = dict(scope)
        child["root_path"] = scope.get("root_path", "") + self.root_path
        if self.lifespan.state:
            child["state"] = dict(self.lifespan.state)
        if self.root_path and scope["path"] == self.root_path:
            child["path"] = self.root_path + "/"
            child["raw_path"] = child["path"].encode()
        exchange = _Exchange(receive, send, route.max_request_bytes)
        started = time.monotonic()
        with self.metrics.tracking(route.name, "http"):
            try:
                if not await exchange.refused_length(child):
                    await self._serve(child, exchange)
            finally:
                status = str(exchange.status or 499)
                self.metrics.observe(route.name, "http", status, time.monotonic() - started)

    async def _serve(self, scope: Scope, exchange: _Exchange) -> None:
        token = current_app_graph.set(self.graph)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception as exc:
            if exchange.refused:  # the app saw the body stop: braid has answered 413
                return
            # User code cannot break the ingress: one line, no traceback (STYLE), then 500.
            logger.error(
                'graph %s: the app "%s" failed on %s %s: %s%s',
                self.graph.route.name,
                self.path,
                scope.get("method", ""),
                str(scope.get("path", ""))[:200],
                _described(exc),
                _where(exc),
            )
            self.metrics.error(self.graph.route.name, "http", "AppError")
            if not exchange.status:
                with contextlib.suppress(Exception):
                    message = (
                        f'the app of graph "{self.graph.route.name}" failed: {_described(exc)}'
                    )
                    await exchange.send_error(500, "AppError", message[:1000])
        finally:
            current_app_graph.reset(token)


class _Exchange:
    """One request's ASGI ``receive`` and ``send`` around the app: its status, and the graph's
    ``maxRequestBytes`` on the body (413 for a ``Content-Length`` over it before the app runs;
    413 as soon as a chunked body's bytes pass it, after which the app sees the client gone and
    its own answer is dropped)."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive, self._send, self.limit = receive, send, limit
        self.status = 0
        self.received = 0
        self.refused = False

    async def refused_length(self, scope: Mapping[str, Any]) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self.send_error(
                    413,
                    "PayloadTooLarge",
                    f"the request body ({int(value)} bytes) is over the limit of {self.limit} "
                    "bytes",
                )
                return True
        return False

    async def receive(self) -> dict[str, Any]:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                if not self.status:
                    await self.send_error(
                        413,
                        "PayloadTooLarge",
                        f"the request body is over the limit of {self.limit} bytes",
                    )
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: dict[str, Any]) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)

    async def send_error(self, status: int, kind: str, message: str) -> None:
        self.status = status
        await _send_error(self._send, status, kind, message)


async def _send_error(send: Send, status: int, kind: str, message: str) -> None:
    body = error_body(kind, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 413:  # the rest of the body is never read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _request_span(graph: str, scope: Scope) -> contextlib.AbstractContextManager[None]:
    """The ingress's span of a request to a graph's app (decision 0020), continuing the
    caller's trace from its headers; the flow and handle calls the app makes are under it."""
    if not tracing.enabled():
        return contextlib.nullcontext()
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())]
    return tracing.request_span(graph, "http", headers)


class AppDispatcher:
    """The ASGI app in front of braid's own: a path of a graph with an app goes to that app."""

    def __init__(self, routes: RouteTable, apps: Mapping[str, MountedApp], fallback: Any) -> None:
        self.routes = routes
        self.apps = dict(apps)
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"] or "/"
            if not path.startswith("/-/") and not is_inference_path(path):
                route = self.routes.match(path)
                app = self.apps.get(route.name) if route is not None else None
                if app is not None:
                    with _request_span(app.graph.route.name, scope):
                        await app(scope, receive, send)
                    return
        await self.fallback(scope, receive, send)
