"""braid's codec: round trips, out-of-band buffers, escapes, and refusal of what needs pickle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from braid.runtime._proto.braid_pb2 import Payload
from braid.runtime._wire.codec import ReferenceMarker, UpstreamMarker, decode, encode
from braid.runtime._wire.errors import CodecError


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -3, 1.5, "", "héllo", [], {}, [1, [2, [3]]], {"a": {"b": [None, "x"]}}],
)
def test_json_values_round_trip(value: object) -> None:
    assert decode(encode(value)) == value


def test_bytes_travel_out_of_band_without_base64() -> None:
    blob = bytes(range(256)) * 1000
    payload = encode({"image": blob, "name": "x"})
    assert payload.buffers == [blob]
    assert len(payload.header) < 64  # the header holds a marker, not the data
    assert decode(payload) == {"image": blob, "name": "x"}


def test_numpy_arrays_keep_dtype_and_shape() -> None:
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    decoded = decode(encode([array]))[0]
    assert decoded.dtype == np.float32
    assert decoded.shape == (2, 3, 4)
    assert np.array_equal(decoded, array)


def test_non_contiguous_arrays_are_made_contiguous() -> None:
    array = np.arange(12).reshape(3, 4)[:, ::2]
    assert np.array_equal(decode(encode(array)), array)


def test_numpy_scalars_become_python_numbers() -> None:
    assert decode(encode({"x": np.float64(2.5), "n": np.int32(7)})) == {"x": 2.5, "n": 7}


def test_object_arrays_are_refused_because_they_need_pickle() -> None:
    with pytest.raises(CodecError, match="pickle"):
        encode(np.array([object()], dtype=object))


def test_an_object_dtype_from_outside_is_refused() -> None:
    payload = Payload(header=b'{"$nd":0,"dtype":"|O","shape":[1]}', buffers=[b"\x00" * 8])
    with pytest.raises(CodecError):
        decode(payload)


def test_user_dicts_that_look_like_markers_are_escaped() -> None:
    value = {"$b": 0, "$up": 1, "plain": "$x"}
    assert decode(encode(value)) == value


def test_strings_with_dollars_are_plain_data() -> None:
    assert decode(encode(["$step", "$$", '"$b"'])) == ["$step", "$$", '"$b"']


def test_tuples_become_lists_and_dataclasses_dicts() -> None:
    @dataclasses.dataclass
    class Box:
        x: int
        y: tuple[int, int]

    assert decode(encode(Box(1, (2, 3)))) == {"x": 1, "y": [2, 3]}


def test_unsupported_types_get_an_actionable_error() -> None:
    with pytest.raises(CodecError, match=r"cannot encode a value of type .*Widget"):

        class Widget:
            pass

        encode({"w": Widget()})


def test_markers_resolve_through_the_given_functions() -> None:
    payload = encode([[UpstreamMarker(0), {"nested": ReferenceMarker(1)}], {}])
    decoded = decode(payload, upstream=lambda i: f"up{i}", reference=lambda i: f"ref{i}")
    assert decoded == [["up0", {"nested": "ref1"}], {}]


def test_markers_without_a_resolver_are_rejected() -> None:
    with pytest.raises(CodecError, match=r"unexpected \$up"):
        decode(encode(UpstreamMarker(0)))


@pytest.mark.parametrize(
    "header",
    [b"{", b'{"$b": 5}', b'{"$nd": 0, "dtype": "nonsense", "shape": [1]}', b"\xff\xfe"],
)
def test_malformed_payloads_raise_codec_errors(header: bytes) -> None:
    with pytest.raises(CodecError):
        decode(Payload(header=header, buffers=[b"\x00"]))


def test_empty_header_is_none() -> None:
    assert decode(Payload()) is None
