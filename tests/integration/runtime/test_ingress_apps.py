"""Graphs served by their own ASGI apps (spec.ingress.http.app), through a real `braid run`.

One launch serves three graphs on one ingress: "shop" with a FastAPI app, "counts" with a
plain ASGI app over a streaming flow, and "echo" with braid's own JSON API. The clients are
curl and grpcurl. The apps call the flow and the nodes through ``braid.ingress``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_harness import GRAPHS, Running, braid_run, curl, grpcurl, request

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"ingress-apps-{layout}")
    files = [GRAPHS / "shop.yaml", GRAPHS / "counts.yaml", GRAPHS / "echo.yaml"]
    with braid_run(files, work, "--layout", layout) as launched:
        yield launched


def at(running: Running, path: str) -> str:
    return f"http://{running.http}{path}"


def test_a_fastapi_route_awaits_the_flow(running: Running) -> None:
    result = curl("--json", '{"n": 5}', at(running, "/shop/double"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"result": 10}


def test_pydantic_refuses_bad_input_with_422_naming_the_field(running: Running) -> None:
    result = curl("-w", "\n%{http_code}", "--json", '{"n": "five"}', at(running, "/shop/double"))
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "422"
    (error,) = json.loads(body)["detail"]
    assert error["loc"] == ["body", "n"]


def test_the_route_prefix_itself_is_the_apps_root(running: Running) -> None:
    assert json.loads(curl(at(running, "/shop")).stdout) == {"graph": "shop"}
    assert json.loads(curl(at(running, "/shop/")).stdout) == {"graph": "shop"}


def test_the_apps_lifespan_ran_before_serving_and_its_state_reaches_requests(
    running: Running,
) -> None:
    assert json.loads(curl(at(running, "/shop/state")).stdout) == {"warmed": 100}


def test_the_flow_as_a_fastapi_dependency(running: Running) -> None:
    assert json.loads(curl(at(running, "/shop/depends/21")).stdout) == {"result": 42}


def test_a_handle_streams_a_nodes_generator_item_by_item(running: Running) -> None:
    result = curl("-N", at(running, "/shop/count/4"))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [0, 1, 2, 3]


def test_a_response_passed_into_another_handle_call(running: Running) -> None:
    assert json.loads(curl(at(running, "/shop/chain/3")).stdout) == 12


def test_a_sync_route_waits_for_a_handle_from_its_thread(running: Running) -> None:
    assert json.loads(curl(at(running, "/shop/sync/4")).stdout) == 8


def test_a_failing_node_raises_its_request_error_in_the_app(running: Running) -> None:
    result = curl("-w", "\n%{http_code}", at(running, "/shop/fail-node"))
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "500"
    error = json.loads(body)["error"]
    assert error["node"] == "failing"
    assert error["kind"] == "UserCodeError"
    assert "cannot handle 1" in error["message"]


def test_an_app_that_raises_answers_500_and_the_ingress_serves_on(running: Running) -> None:
    for _ in range(3):
        result = curl("-w", "\n%{http_code}", at(running, "/shop/boom"))
        assert result.stdout.rsplit("\n", 1)[1] == "500"
    # A plain ASGI app that raises before answering: braid answers with its JSON error.
    result = curl("-w", "\n%{http_code}", "-d", "1", at(running, "/counts/boom"))
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "500"
    error = json.loads(body)["error"]
    assert error["kind"] == "AppError"
    assert 'the app of graph "counts" failed: KeyError' in error["message"]
    # Every graph still answers.
    assert json.loads(curl("--json", '{"n": 1}', at(running, "/shop/double")).stdout) == {
        "result": 2
    }
    assert json.loads(curl("-d", '"still here"', at(running, "/echo")).stdout) == "still here"
    log = running.log.read_text()
    assert 'graph shop: the app "shop_api:app" failed on GET /shop/boom: RuntimeError' in log
    assert 'graph counts: the app "counts_api:app" failed on POST /counts/boom: KeyError' in log
    assert "Traceback" not in log


def test_a_plain_asgi_app_streams_the_flow(running: Running) -> None:
    result = curl("-N", "-d", "3", at(running, "/counts"))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"item": 0},
        {"item": 1},
        {"item": 2},
    ]


def test_awaiting_a_streaming_flow_says_to_stream_it(running: Running) -> None:
    reply = json.loads(curl("-d", "3", at(running, "/counts/whole")).stdout)
    assert reply["status"] == 400
    assert reply["message"].startswith("the graph output comes from counter.count, a generator")
    assert reply["message"].endswith("in the app, `async for item in flow.stream(value)`")


def test_openapi_and_docs_come_from_the_app_under_the_prefix(running: Running) -> None:
    schema = json.loads(curl(at(running, "/shop/openapi.json")).stdout)
    assert schema["info"]["title"] == "Shop"
    assert {"/double", "/count/{n}"} <= set(schema["paths"])
    assert schema["servers"] == [{"url": "/shop"}]
    docs = curl("-i", at(running, "/shop/docs")).stdout
    assert "200 OK" in docs.splitlines()[0]
    assert "/shop/openapi.json" in docs


def test_a_body_over_max_request_bytes_is_refused_before_the_app(running: Running) -> None:
    big = json.dumps({"n": 1, "pad": "x" * 2000})
    reply = request(
        running.http, "POST", "/shop/double", big.encode(), {"Content-Type": "application/json"}
    )
    assert reply.status == 413
    assert "over the limit of 1024 bytes" in reply.json()["error"]["message"]
    # A chunked body has no length up front: refused once the bytes read pass the limit.
    result = curl(
        "-w",
        "\n%{http_code}",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        big,
        at(running, "/shop/double"),
    )
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "413"
    assert json.loads(body)["error"]["message"] == (
        "the request body is over the limit of 1024 bytes"
    )
    assert "/shop/double" not in running.log.read_text()  # not an app failure


def test_braids_own_routes_and_other_graphs_are_unaffected(running: Running) -> None:
    routes = json.loads(curl(at(running, "/-/routes")).stdout)
    assert routes == {"/shop": "shop", "/counts": "counts", "/echo": "echo"}
    ready = json.loads(curl(at(running, "/-/ready")).stdout)
    assert ready["ready"] is True
    assert json.loads(curl("-d", "[1, 2]", at(running, "/echo")).stdout) == [1, 2]
    # The Open Inference Protocol and gRPC still reach the app's graph's flow.
    ready_model = curl("-w", " %{http_code}", at(running, "/v2/models/shop/ready")).stdout
    assert ready_model == '{"name":"shop","ready":true} 200'
    reply = grpcurl(running.grpc, "braid.v1.Graph/Invoke", '{"graph": "shop", "json": "7"}')
    assert reply.returncode == 0, reply.stderr
    assert json.loads(reply.stdout) == {"json": "14"}


BROKEN_APPS = {
    "missing module": (
        "nowhere:app",
        'graph "shop": cannot import the app "nowhere:app" (spec.ingress.http.app): '
        "No module named 'nowhere'",
    ),
    "import raises": (
        "broken_api:app",
        'graph "shop": importing the app "broken_api:app" (spec.ingress.http.app) raised '
        "RuntimeError: no database",
    ),
    "startup fails": (
        "failing_api:app",
        'graph "shop": the app "failing_api:app" failed to start: RuntimeError: no database',
    ),
}

FAILING_STARTUP = """
from contextlib import asynccontextmanager
from fastapi import FastAPI

@asynccontextmanager
async def lifespan(app):
    raise RuntimeError("no database")
    yield

app = FastAPI(lifespan=lifespan)
"""


@pytest.mark.parametrize("case", BROKEN_APPS)
def test_an_app_that_cannot_be_imported_stops_braid_run_with_one_line(
    case: str, tmp_path: Path
) -> None:
    target, expected = BROKEN_APPS[case]
    shutil.copy(GRAPHS / "app_nodes.py", tmp_path)
    (tmp_path / "broken_api.py").write_text("import os\nraise RuntimeError('no database')\n")
    (tmp_path / "failing_api.py").write_text(FAILING_STARTUP)
    manifest = (GRAPHS / "shop.yaml").read_text().replace("shop_api:app", target)
    (tmp_path / "graph.yaml").write_text(manifest)
    argv = [sys.executable, "-m", "braid", "--log-level", "WARNING", "run"]
    argv += [str(tmp_path / "graph.yaml"), "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"braid: {expected}" in output
    assert "Traceback" not in output
    assert "ingress exited with code 1 while starting" in output
