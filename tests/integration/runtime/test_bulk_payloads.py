"""Large payloads through `braid run`, in both layouts (decision 0012): 100 MB through shared
memory end to end, numpy arrays and bytes exactly as sent, a consumer killed while its producer
works, and shared memory full (the wire instead, counted and logged). Nothing is left behind in
the shared folder."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from edge_harness import GRAPHS, Running, braid_run

from braid.runtime._proto import braid_pb2, braid_pb2_grpc
from braid.runtime._wire.codec import decode, encode

MB = 1024 * 1024
OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"bulk-{layout}")
    graphs = [GRAPHS / "bulk.yaml", GRAPHS / "bulk-dying.yaml"]
    with braid_run(graphs, work, "--layout", layout) as launched:
        yield launched


def invoke(running: Running, request: braid_pb2.GraphRequest) -> braid_pb2.GraphReply:
    with grpc.insecure_channel(running.grpc, options=OPTIONS) as channel:
        stub = braid_pb2_grpc.GraphStub(channel)  # type: ignore[no-untyped-call]
        reply: braid_pb2.GraphReply = stub.Invoke(request, timeout=120)
        return reply


def segments(running: Running) -> list[str]:
    folder = Path(running.status["shared_memory"])
    return sorted(name for name in os.listdir(folder) if name.startswith("seg-"))


def wait_no_segments(running: Running, timeout: float = 30.0) -> list[str]:
    """The segments still in the shared folder after ``timeout`` (none, if all went well)."""
    end = time.monotonic() + timeout
    while (left := segments(running)) and time.monotonic() < end:
        time.sleep(0.2)
    return left


def test_the_run_has_a_shared_memory_folder(running: Running) -> None:
    folder = running.status["shared_memory"]
    assert folder is not None and folder.startswith("/dev/shm/braid-run-")
    assert (Path(folder) / ".domain").is_file()


def test_100_mb_cross_two_hops_through_shared_memory(running: Running) -> None:
    data = os.urandom(100 * MB)
    reply = invoke(running, braid_pb2.GraphRequest(graph="bulk", raw=data))
    assert reply.WhichOneof("output") == "raw"
    assert reply.raw == data
    assert wait_no_segments(running) == []


def test_numpy_arrays_and_bytes_round_trip_exactly(running: Running) -> None:
    rng = np.random.default_rng(7)
    big = rng.standard_normal((512, 1024), dtype=np.float32)  # 2 MB: through shared memory
    value: dict[str, Any] = {
        "big": big,
        "fortran": np.asfortranarray(rng.integers(0, 1000, (300, 400), dtype=np.int64)),
        "strided": big[::3, ::2],  # not contiguous
        "big_endian": np.arange(70_000, dtype=">i4"),
        "scalar": np.array(3.5, dtype=np.float64),  # 0-d
        "empty": np.zeros((0, 3), dtype=np.uint8),
        "complex": (rng.standard_normal(4096) + 1j).astype(np.complex64),
        "bools": rng.integers(0, 2, 300_000).astype(bool),
        "blob": os.urandom(3 * MB),
        "small": b"\x00\x01\xff",
        "nested": [{"x": np.arange(6, dtype=np.int16).reshape(2, 3)}],
    }
    reply = invoke(running, braid_pb2.GraphRequest(graph="bulk", payload=encode(value)))
    assert reply.WhichOneof("output") == "payload"
    back = decode(reply.payload)
    assert back.keys() == value.keys()
    for key in ("big", "fortran", "strided", "big_endian", "scalar", "empty", "complex", "bools"):
        sent, got = value[key], back[key]
        assert got.dtype == sent.dtype, key
        assert got.shape == sent.shape, key
        assert np.array_equal(got, sent), key
    assert back["blob"] == value["blob"]
    assert back["small"] == value["small"]
    nested = back["nested"][0]["x"]
    assert nested.dtype == np.int16 and nested.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert wait_no_segments(running) == []


def test_a_client_cannot_refer_to_shared_memory(running: Running) -> None:
    payload = braid_pb2.Payload(header=b'{"$b":0}', buffers=[b""])
    payload.shared.append(braid_pb2.SharedBuffer(index=0, segment="seg-1-" + "0" * 32, size=5))
    with pytest.raises(grpc.RpcError) as raised:
        invoke(running, braid_pb2.GraphRequest(graph="bulk", payload=payload))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_consumer_killed_while_its_producer_works_leaves_nothing_behind(
    running: Running,
) -> None:
    (sink,) = [
        p["pid"] for p in running.status["processes"] if p["name"] == "replica bulk-dying/sink#0"
    ]
    data = os.urandom(20 * MB)
    with grpc.insecure_channel(running.grpc, options=OPTIONS) as channel:
        stub = braid_pb2_grpc.GraphStub(channel)  # type: ignore[no-untyped-call]
        call = stub.Invoke.future(braid_pb2.GraphRequest(graph="bulk-dying", raw=data), timeout=120)
        time.sleep(0.5)  # the producer sleeps 2 s before sending its value on
        os.kill(sink, signal.SIGKILL)
        try:
            reply = call.result()
        except grpc.RpcError as error:  # the call reached the dead consumer
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error
            assert "sink" in (error.details() or ""), error.details()
        else:  # it never reached it, and went to the restarted one
            assert reply.json == str(len(data))
    assert wait_no_segments(running) == []


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"bulk-full-{layout}")
    limit = str(1 * MB)  # smaller than the values sent: every one goes over the wire
    with braid_run(
        [GRAPHS / "bulk.yaml"], work, "--layout", layout, "--shared-memory-bytes", limit
    ) as launched:
        yield launched


def test_when_shared_memory_is_full_values_go_over_the_wire(full: Running) -> None:
    data = os.urandom(10 * MB)
    reply = invoke(full, braid_pb2.GraphRequest(graph="bulk", raw=data))
    assert reply.raw == data
    with urllib.request.urlopen(full.status["metrics"], timeout=30) as response:
        metrics = response.read().decode()
    fallbacks = [
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("braid_shared_memory_fallbacks_total")
    ]
    assert fallbacks and fallbacks[0] >= 1, metrics[-2000:]
    assert "is full" in full.log.read_text()
    assert wait_no_segments(full) == []
