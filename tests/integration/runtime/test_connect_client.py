"""``braid.connect``: a client of graphs that are already running, against a real `braid run`.

The graphs run in one `braid run` (started by ``braid.runtime.run``, whose App is only used for
its gRPC address); every call here goes through a separate ``braid.connect`` client, as a user's
program on another machine would.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from edge_harness import EXAMPLES, GRAPHS

import braid
import braid.runtime
from braid.runtime import Client, DeadlineExceeded, NotFound, UserCodeError


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    graphs = [GRAPHS / "echo.yaml", GRAPHS / "edge.yaml", GRAPHS / "slow.yaml"]
    graphs.append(EXAMPLES / "streaming" / "graph.yaml")
    with braid.runtime.run(*graphs) as app:
        yield app.grpc_target


@pytest.fixture
def client(target: str) -> Iterator[Client]:
    with braid.connect(target) as connected:
        yield connected


def test_connect_is_braid_connect_and_calls_a_graph_by_name(client: Client) -> None:
    assert braid.connect is braid.runtime.connect
    assert client.graph("echo").remote({"a": [1, 2]}).result() == {"a": [1, 2]}


def test_numpy_arrays_and_bytes_come_back_as_they_left(client: Client) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]  # not contiguous
    echoed = client.graph("echo").remote({"x": array, "raw": b"\x00\xff"}).result()
    assert echoed["x"].dtype == np.float32 and echoed["x"].shape == (3, 2)
    np.testing.assert_array_equal(echoed["x"], array)
    assert echoed["raw"] == b"\x00\xff"


def test_async_callers_await_without_blocking_the_loop(client: Client) -> None:
    async def both() -> list[object]:
        slow = client.graph("slow").remote(0.5)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        results = await asyncio.gather(slow, client.graph("echo").remote("x"))
        ticker.cancel()
        assert ticks > 5  # the loop ran while the calls were out
        return list(results)

    assert asyncio.run(both()) == [0.5, "x"]


def test_streams_iterate_sync_and_async(client: Client) -> None:
    numbers = client.graph("streaming").options(stream=True)
    items = list(numbers.remote(3))
    assert len(items) == 3

    async def collect() -> list[object]:
        return [item async for item in numbers.remote(3)]

    assert asyncio.run(collect()) == items


def test_errors_are_typed_and_name_the_node(client: Client) -> None:
    with pytest.raises(UserCodeError) as failed:
        client.graph("failing").remote(1).result()
    assert failed.value.node == "failing" and "cannot handle 1" in str(failed.value)
    with pytest.raises(NotFound, match="nope"):
        client.graph("nope").remote(1).result()
    with pytest.raises(DeadlineExceeded):
        client.graph("slow").options(timeout=0.3).remote(2).result()


def test_a_default_request_timeout_applies_to_every_call(target: str) -> None:
    with braid.connect(target, request_timeout=0.3) as hurried:
        with pytest.raises(DeadlineExceeded):
            hurried.graph("slow").remote(2).result()
        assert hurried.graph("slow").options(timeout=10).remote(0.5).result() == 0.5


def test_an_ingress_with_several_graphs_needs_a_name(client: Client) -> None:
    with pytest.raises(NotFound) as missing:
        client.remote(1).result()
    assert "echo" in str(missing.value)  # the message lists the graphs it serves


def test_the_only_graph_needs_no_name(tmp_path: Path) -> None:
    with (
        braid.runtime.run(EXAMPLES / "chain" / "graph.yaml") as app,
        braid.connect(app.grpc_target) as only,
    ):
        assert only.remote(5).result() == 12
        assert only.options(timeout=10).remote(1).result() == 4


def test_wrong_targets_are_one_clear_error() -> None:
    with socket.socket() as bound:  # a port that is ours, where nobody answers
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(ConnectionError, match=f"no braid ingress answers at 127.0.0.1:{port}"):
            braid.connect(f"127.0.0.1:{port}", timeout=0.5)
    with pytest.raises(ValueError, match="not an HTTP URL"):
        braid.connect("http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="seconds above 0"):
        braid.connect("127.0.0.1:1", timeout=0)


def test_a_server_that_is_not_an_ingress_is_named_as_such(target: str, tmp_path: Path) -> None:
    server = grpc.server(ThreadPoolExecutor(1))  # a plain gRPC server with no braid service
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(ConnectionError, match=r"does not serve braid\.v1\.Graph"):
            braid.connect(f"127.0.0.1:{port}", timeout=5)
    finally:
        server.stop(None)


def test_a_closed_client_says_so(target: str) -> None:
    closed = braid.connect(target)
    caller = closed.graph("echo")
    closed.close()
    with pytest.raises(ValueError, match="its connection was closed"):
        caller.remote(1)
