"""A graph's own ASGI app: importing it with clear errors, mounting it at the route prefix,
and what braid.ingress gives it (in process, with a fake ASGI server around it)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from braid import ingress
from braid.runtime._discovery.peers import StaticDiscovery
from braid.runtime._ingress.graph_apps import (
    AppDispatcher,
    AppGraph,
    MountedApp,
    current_app_graph,
    load_app,
)
from braid.runtime._ingress.metrics import IngressMetrics
from braid.runtime._ingress.routes import GraphRoute, IngressConfigError, RouteTable
from braid.runtime._ingress.serving import Ingress
from braid.runtime._proto.braid_pb2 import CallReply, CallRequest
from braid.runtime._replica.handles import CallContext, current_call
from braid.runtime._wire import tracing
from braid.runtime._wire.codec import encode
from braid.runtime._wire.spans import Spans
from braid.spec import validate_graph


def route(
    name: str = "shop", prefix: str = "/shop", app: str = "shop_app:app", client: Any = None
) -> GraphRoute:
    graph = validate_graph(
        {
            "apiVersion": "braid.dev/v1alpha1",
            "kind": "DeploymentGraph",
            "metadata": {"name": name},
            "spec": {
                "nodes": [{"name": "a", "class": "m:C"}],
                "flow": {
                    "steps": [{"name": "s", "call": "a.f", "args": ["$input"]}],
                    "output": "$s",
                },
                "ingress": {"http": {"routePrefix": prefix, "app": app}, "maxRequestBytes": 100},
            },
        }
    )
    # Only the runner's client is used (by handles); discovery is not.
    runner = SimpleNamespace(client=client)
    return GraphRoute(graph=graph, runner=cast(Any, runner), discovery=cast(Any, None))


@pytest.fixture
def code(tmp_path: Path) -> Iterator[Path]:
    """A folder for app modules, forgotten by sys.modules afterwards."""
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("shop_app"):
            del sys.modules[name]
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


async def load(code: Path, source: str, app: str = "shop_app:app") -> Any:
    (code / "shop_app.py").write_text(source)
    return load_app(AppGraph(route(app=app), asyncio.get_running_loop()), code)


async def test_the_app_is_imported_from_the_code_dir_bound_to_its_graph(code: Path) -> None:
    source = (
        "from braid import ingress\n"
        "flow = ingress.flow()\n"
        "async def app(scope, receive, send):\n"
        "    pass\n"
    )
    app = await load(code, source)
    assert callable(app)
    assert sys.modules["shop_app"].flow.graph == "shop"
    assert current_app_graph.get() is None  # only while importing


@pytest.mark.parametrize(
    ("source", "app", "message"),
    [
        ("", "nowhere:app", 'cannot import the app "nowhere:app" (spec.ingress.http.app): '),
        (
            "x = 1\nraise RuntimeError('no database')\n",
            "shop_app:app",
            'importing the app "shop_app:app" (spec.ingress.http.app) raised RuntimeError: '
            "no database at ",
        ),
        ("def broken(:\n", "shop_app:app", "raised SyntaxError"),
        ("import sys\nsys.exit(3)\n", "shop_app:app", "raised SystemExit: 3"),
        ("app = 1\n", "shop_app:api", 'module "shop_app" has no attribute "api"'),
        ("app = 1\n", "shop_app:app", '"shop_app:app" (spec.ingress.http.app) is a int, not an'),
    ],
)
async def test_an_app_that_cannot_be_served_is_one_clear_error(
    code: Path, source: str, app: str, message: str
) -> None:
    with pytest.raises(IngressConfigError) as caught:
        await load(code, source, app)
    assert str(caught.value).startswith('graph "shop": ')
    assert message in str(caught.value)
    assert caught.value.__cause__ is None  # nothing for a traceback to show


def test_braid_ingress_outside_an_app_says_where_it_works() -> None:
    with pytest.raises(RuntimeError, match=r"works only in a graph's own app"):
        ingress.flow()
    with pytest.raises(RuntimeError, match=r"braid.ingress.handle\(\) works only"):
        ingress.handle("a")


async def test_a_handle_to_an_unknown_node_lists_the_graphs_nodes() -> None:
    token = current_app_graph.set(AppGraph(route(), asyncio.get_running_loop()))
    try:
        assert ingress.handle("a").node == "a"
        with pytest.raises(ValueError, match=r'graph "shop" has no node "b"; its nodes: a'):
            ingress.handle("b")
    finally:
        current_app_graph.reset(token)


async def test_an_apps_handle_call_is_a_request_of_its_own_from_the_ingress() -> None:
    sent: list[tuple[CallRequest, float | None]] = []

    class Client:  # the graph's ReplicaClient, as far as a handle call uses it
        async def call(self, request: CallRequest, *, deadline: float) -> tuple[str, CallReply]:
            sent.append((request, deadline))
            return "", CallReply(result=encode("ok"), response_headers={"x-version": "v2"})

    shop = route(client=Client())
    token = current_app_graph.set(AppGraph(shop, asyncio.get_running_loop()))
    try:
        words = ingress.handle("a")
    finally:
        current_app_graph.reset(token)
    before = time.monotonic()
    assert await words.f.remote(1) == "ok"
    after = time.monotonic()
    out: dict[str, str] = {}
    served = current_call.set(CallContext("req-1", 100.0, headers={"x": "y"}, response_headers=out))
    try:
        assert await words.f.remote(2) == "ok"
    finally:
        current_call.reset(served)
    (first, graph_deadline), (second, request_deadline) = sent
    assert (first.caller, first.graph, first.node, first.method) == ("ingress", "shop", "a", "f")
    assert before + shop.timeout <= graph_deadline <= after + shop.timeout
    assert second.request_id != "req-1" and len(second.request_id) == 32
    assert request_deadline == 100.0  # the request's own, as it is
    assert dict(second.context.headers) == {} and out == {}


class Exchange:
    """One request through an ASGI app: what it was sent, and what it answered."""

    def __init__(self, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "headers": headers or [],
        }
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def mounted(app: Any, prefix: str = "/shop") -> MountedApp:
    graph = AppGraph(route(prefix=prefix), asyncio.get_running_loop())
    return MountedApp(graph, app, IngressMetrics())


async def test_the_app_sees_the_prefix_as_its_root_path_and_its_graph() -> None:
    seen: list[tuple[str, str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["root_path"], scope["path"], ingress.flow().graph))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for path in ("/shop/items/1", "/shop"):
        exchange = Exchange(path)
        await mounted(app)(exchange.scope, exchange.receive, exchange.send)
        assert exchange.status == 204
    assert seen == [("/shop", "/shop/items/1", "shop"), ("/shop", "/shop/", "shop")]


async def test_an_app_that_raises_before_answering_gets_a_json_500() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise LookupError("no such item")

    exchange = Exchange("/shop/x")
    await mounted(app)(exchange.scope, exchange.receive, exchange.send)
    assert exchange.status == 500
    error = json.loads(exchange.body)["error"]
    assert error["kind"] == "AppError"
    assert error["message"] == 'the app of graph "shop" failed: LookupError: no such item'


async def test_an_app_that_raises_midway_keeps_what_it_sent() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise LookupError("gone")

    exchange = Exchange("/shop/x")
    await mounted(app)(exchange.scope, exchange.receive, exchange.send)
    assert exchange.status == 200
    assert exchange.body == b"part"  # no second response start: the server ends the stream


async def test_a_content_length_over_the_limit_never_reaches_the_app() -> None:
    called = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope)

    exchange = Exchange("/shop/x", [(b"content-length", b"101")])
    await mounted(app)(exchange.scope, exchange.receive, exchange.send)
    assert exchange.status == 413
    assert called == []


async def test_braids_paths_and_other_graphs_pass_the_dispatcher_by() -> None:
    reached: list[str] = []

    def recorder(name: str) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            reached.append(name)

        return app

    shop = route()
    plain = route(name="plain", prefix="/")
    table = RouteTable([shop, plain])
    graph = AppGraph(shop, asyncio.get_running_loop())
    apps = {"shop": MountedApp(graph, recorder("shop"), IngressMetrics())}
    dispatcher = AppDispatcher(table, apps, recorder("braid"))
    for path in ("/shop/a", "/-/ready", "/v2/models/shop", "/other", "/shopping"):
        exchange = Exchange(path)
        await dispatcher(exchange.scope, exchange.receive, exchange.send)
    assert reached == ["shop", "braid", "braid", "braid", "braid"]


def lifespan_app(events: list[str], *, fail: str = "") -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            events.append(f"request {scope.get('state')}")
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "lifespan.startup":
                if fail:
                    await send({"type": "lifespan.startup.failed", "message": fail})
                    return
                scope["state"]["graph"] = ingress.flow().graph
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app


async def test_the_lifespan_starts_before_requests_and_its_state_reaches_them() -> None:
    events: list[str] = []
    app = mounted(lifespan_app(events))
    await app.lifespan.startup()
    exchange = Exchange("/shop/x")
    await app(exchange.scope, exchange.receive, exchange.send)
    await app.lifespan.shutdown(5)
    assert events == ["lifespan.startup", "request {'graph': 'shop'}", "lifespan.shutdown"]


async def test_a_failed_startup_names_the_graph_and_the_apps_last_line() -> None:
    trace = 'Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: no db\n'
    app = mounted(lifespan_app([], fail=trace))
    with pytest.raises(IngressConfigError) as caught:
        await app.lifespan.startup()
    assert str(caught.value) == (
        'graph "shop": the app "shop_app:app" failed to start: RuntimeError: no db'
    )


async def test_an_app_without_a_lifespan_has_none() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise KeyError(scope["path"])  # a lifespan scope has no path

    mounted_app = mounted(app)
    await mounted_app.lifespan.startup()
    await mounted_app.lifespan.shutdown(5)


async def test_a_chunked_body_over_the_limit_is_413_and_the_app_sees_the_client_gone() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "http.disconnect":
                raise OSError("the client went away")  # as Starlette's ClientDisconnect would
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})

    chunks = iter([b"x" * 60, b"x" * 60, b"x" * 60])
    exchange = Exchange("/shop/x", [(b"transfer-encoding", b"chunked")])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": next(chunks), "more_body": True}

    await mounted(app)(exchange.scope, receive, exchange.send)
    assert exchange.status == 413
    assert len(exchange.sent) == 2  # braid's 413, and nothing of the app's
    assert (b"connection", b"close") in exchange.sent[0]["headers"]
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]


async def test_two_graphs_cannot_share_one_app_module(code: Path) -> None:
    (code / "shop_app.py").write_text("async def app(scope, receive, send):\n    pass\n")
    graphs = [route(name="a", prefix="/a").graph, route(name="b", prefix="/b").graph]
    with pytest.raises(IngressConfigError) as caught:
        Ingress([(graph, StaticDiscovery({})) for graph in graphs], code_dirs=[code])
    assert str(caught.value) == (
        'graphs "a" and "b" both take their app from module "shop_app"; give each graph\'s app '
        "a module of its own"
    )


async def test_a_request_to_an_app_is_a_request_span_continuing_the_callers_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = tracing.install(Spans(provider.get_tracer("test"), attributes={}))
    try:

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 204, "headers": []})

        shop = route()
        graph = AppGraph(shop, asyncio.get_running_loop())
        apps = {"shop": MountedApp(graph, app, IngressMetrics())}
        dispatcher = AppDispatcher(RouteTable([shop]), apps, app)
        parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        exchange = Exchange("/shop/a", [(b"traceparent", parent.encode())])
        await dispatcher(exchange.scope, exchange.receive, exchange.send)
    finally:
        tracing.install(previous)
    (span,) = exporter.get_finished_spans()
    assert span.name == "request shop"
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
