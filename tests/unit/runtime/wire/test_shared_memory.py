"""braid.runtime._wire.shared_memory: segments written once and read once, hard links for more
readers, the fallback to the wire when full, cleanup of what nobody read; the codec's direct
writes to shared memory; the ingress's raw framing of a GraphReply (decision 0012)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pytest

from braid.runtime._flow.results import Output
from braid.runtime._ingress.rendering import framed_reply, raw_request
from braid.runtime._proto.braid_pb2 import (
    CallReply,
    CallRequest,
    GraphReply,
    GraphRequest,
    Payload,
    SharedBuffer,
    Upstream,
)
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import CodecError
from braid.runtime._wire.shared_memory import (
    DOMAIN_KEY,
    SharedMemory,
    SharedMemorySettings,
    absorb_payload,
    buffers_of,
    caller_domain,
)

KB = 1024


def make(folder: Path, **settings: float) -> SharedMemory:
    return SharedMemory(SharedMemorySettings(directory=folder, threshold=64 * KB, **settings))  # type: ignore[arg-type]


def segments(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("seg-"))


def test_processes_that_share_a_folder_share_its_domain(tmp_path: Path) -> None:
    one, two = make(tmp_path), make(tmp_path)
    assert one.domain == two.domain and len(one.domain) == 32
    assert make(tmp_path / "other").domain != one.domain
    assert caller_domain([("x", "1"), (DOMAIN_KEY, one.domain)]) == one.domain
    assert caller_domain(None) == ""


def test_large_buffers_travel_as_references_and_are_read_once(tmp_path: Path) -> None:
    sender, receiver = make(tmp_path), make(tmp_path)
    big, small = os.urandom(200 * KB), b"tiny"
    request = CallRequest(
        args=Payload(header=b"[]", buffers=[big, small]),
        upstreams=[Upstream(value=Payload(header=b"1", buffers=[big]))],
        then=[CallRequest(args=Payload(header=b"2", buffers=[big]))],
    )
    written = sender.offload(request)
    assert len(written) == 3 and segments(tmp_path) == sorted(written)
    assert list(request.args.buffers) == [b"", small]  # only a reference crosses the wire
    assert request.args.shared[0].size == len(big)
    receiver.absorb(request)
    assert list(request.args.buffers) == [big, small] and not request.args.shared
    assert request.upstreams[0].value.buffers[0] == big
    assert request.then[0].args.buffers[0] == big
    assert segments(tmp_path) == []  # read, and so removed
    assert sender.bytes_written == 3 * len(big)


def test_a_segment_read_twice_is_an_error_that_says_so(tmp_path: Path) -> None:
    shared = make(tmp_path)
    payload = encode(os.urandom(100 * KB), shared=shared)
    assert payload.shared and payload.buffers[0] == b""
    twice = Payload()
    twice.CopyFrom(payload)
    assert decode(payload, buffers=buffers_of(payload, shared)) is not None
    with pytest.raises(CodecError, match="sent through shared memory is gone"):
        buffers_of(twice, shared)


def test_links_give_each_reader_its_own_name_without_copying(tmp_path: Path) -> None:
    shared = make(tmp_path)
    data = os.urandom(300 * KB)
    payload = encode(data, shared=shared)
    copies = [shared.link(payload) for _ in range(3)]
    assert len(segments(tmp_path)) == 4
    assert len({os.stat(tmp_path / name).st_ino for name in segments(tmp_path)}) == 1
    for copy in copies:
        assert decode(copy, buffers=buffers_of(copy, shared)) == data
    shared.release_payload(payload)
    assert segments(tmp_path) == []


def test_kept_values_are_read_without_removing_them(tmp_path: Path) -> None:
    shared = make(tmp_path)
    payload = encode({"x": os.urandom(80 * KB)}, shared=shared)
    for _ in range(2):
        assert len(decode(payload, buffers=buffers_of(payload, shared, consume=False))["x"]) == (
            80 * KB
        )
    assert len(segments(tmp_path)) == 1


def test_a_process_without_shared_memory_refuses_references(tmp_path: Path) -> None:
    payload = encode(os.urandom(100 * KB), shared=make(tmp_path))
    with pytest.raises(CodecError, match="no shared-memory folder"):
        absorb_payload(payload, None)
    with pytest.raises(CodecError, match="cannot read it"):
        decode(payload)


def test_segment_names_from_the_wire_are_checked(tmp_path: Path) -> None:
    shared = make(tmp_path)
    payload = Payload(header=b'{"$b":0}', buffers=[b""])
    payload.shared.append(SharedBuffer(index=0, segment="../../etc/passwd", size=4))
    with pytest.raises(CodecError, match="not a shared-memory segment"):
        absorb_payload(payload, shared)
    payload.shared[0].segment, payload.shared[0].index = "seg-1-" + "a" * 32, 5
    with pytest.raises(CodecError, match="out of range"):
        absorb_payload(payload, shared)


def test_when_full_values_stay_inline_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counted: list[int] = []
    shared = SharedMemory(
        SharedMemorySettings(directory=tmp_path, threshold=64 * KB, max_bytes=500 * KB),
        on_fallback=lambda: counted.append(1),
    )
    first = encode(os.urandom(400 * KB), shared=shared)
    assert first.shared
    with caplog.at_level(logging.WARNING):
        second = encode(os.urandom(400 * KB), shared=shared)
        encode(os.urandom(400 * KB), shared=shared)
    assert not second.shared and len(second.buffers[0]) == 400 * KB
    assert shared.fallbacks == 2 and counted == [1, 1]
    warnings = [r.getMessage() for r in caplog.records if "is full" in r.getMessage()]
    assert len(warnings) == 1  # one line, not one per value
    assert "over the wire" in warnings[0]


def test_a_failed_send_removes_its_segments(tmp_path: Path) -> None:
    shared = make(tmp_path)
    reply = CallReply(result=encode([os.urandom(100 * KB)] * 2, shared=shared))
    assert len(segments(tmp_path)) == 2
    shared.release_message(reply)  # the receiver died before reading them
    assert segments(tmp_path) == []


def test_unread_segments_expire_and_orphans_are_swept(tmp_path: Path) -> None:
    now = [0.0]
    shared = SharedMemory(
        SharedMemorySettings(directory=tmp_path, threshold=1, ttl_seconds=10),
        clock=lambda: now[0],
    )
    shared.offload(CallReply(result=Payload(header=b"1", buffers=[b"never read"])))
    now[0] = 11.0
    shared.offload(CallReply(result=Payload(header=b"1", buffers=[b"read soon"])))
    assert len(segments(tmp_path)) == 1  # the first expired when the second was written
    orphan = tmp_path / ("seg-999999-" + "b" * 32)
    orphan.write_bytes(b"left by a killed process")
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    assert shared.sweep_orphans() == 1
    shared.close()
    assert segments(tmp_path) == []


def test_numpy_arrays_are_written_straight_to_shared_memory(tmp_path: Path) -> None:
    shared = make(tmp_path)
    base = np.arange(200_000, dtype="<f8").reshape(400, 500)
    value = {
        "strided": base[::2, 1::3],
        "fortran": np.asfortranarray(base),
        "big_endian": base.astype(">i4"),
        "scalar": np.array(7, dtype=np.int8),
        "empty": np.zeros((3, 0), dtype=np.float32),
    }
    payload = encode(value, shared=shared)
    assert len(payload.shared) == 3  # the three large ones
    back = decode(payload, buffers=buffers_of(payload, shared))
    for key, sent in value.items():
        assert back[key].dtype == sent.dtype and back[key].shape == sent.shape, key
        assert np.array_equal(back[key], sent), key
    assert segments(tmp_path) == []


def test_a_raw_output_is_framed_as_the_graph_reply_it_stands_for() -> None:
    for size in (0, 1, 127, 128, 300, 70_000, 3 * 1024 * 1024):
        data = os.urandom(size)
        framed = framed_reply(Output(encode(data)))
        assert isinstance(framed, bytes)
        assert framed == GraphReply(raw=data).SerializeToString()
    assert isinstance(framed_reply(Output(encode({"a": 1}))), GraphReply)


def test_a_raw_request_is_read_without_copying_its_bytes() -> None:
    for size in (0, 5, 200_000):
        data = os.urandom(size)
        parsed = raw_request(GraphRequest(graph="bulk", raw=data).SerializeToString())
        assert parsed is not None
        graph, raw = parsed
        assert graph == "bulk" and bytes(raw) == data
        assert isinstance(raw, memoryview) == (size >= 64 * KB)
    assert raw_request(GraphRequest(raw=b"x").SerializeToString()) == ("", b"x")
    # Anything else is left to the protobuf parser (and its errors).
    for other in (
        GraphRequest(graph="g"),
        GraphRequest(graph="g", json="1"),
        GraphRequest(payload=encode([1])),
    ):
        assert raw_request(other.SerializeToString()) is None
    whole = GraphRequest(graph="g", raw=b"abc").SerializeToString()
    assert raw_request(whole[:-1]) is None  # truncated
    assert raw_request(b"\x0a\x02\xff\xfe\x1a\x00") is None  # a graph name that is not UTF-8
    assert raw_request(b"\x08\x01") is None  # a varint field
