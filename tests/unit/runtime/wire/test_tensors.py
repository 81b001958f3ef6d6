"""The tensor rules of the Open Inference Protocol (braid/runtime/_wire/tensors.py)."""

from __future__ import annotations

import numpy as np
import pytest

from braid.runtime._wire import tensors
from braid.runtime._wire.tensors import TensorError


def test_json_data_is_reshaped_to_the_shape_flat_or_nested() -> None:
    flat = tensors.from_json("x", "FP32", [2, 2], [1, 2, 3, 4])
    nested = tensors.from_json("x", "FP32", [2, 2], [[1, 2], [3, 4]])
    for tensor in (flat, nested):
        assert tensor.value.dtype == np.float32
        assert tensor.value.tolist() == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    ("datatype", "dtype"),
    [
        ("BOOL", "bool"),
        ("UINT8", "uint8"),
        ("INT32", "int32"),
        ("INT64", "int64"),
        ("FP16", "float16"),
        ("FP64", "float64"),
    ],
)
def test_each_datatype_maps_to_its_numpy_dtype(datatype: str, dtype: str) -> None:
    data = [True, False] if datatype == "BOOL" else [1, 2]
    assert tensors.from_json("x", datatype, [2], data).value.dtype == np.dtype(dtype)


def test_a_shape_that_does_not_fit_the_data_names_both() -> None:
    with pytest.raises(
        TensorError, match=r'tensor "x": shape \[3\] holds 3 elements but its data has 2'
    ):
        tensors.from_json("x", "INT64", [3], [1, 2])


def test_bf16_and_unknown_datatypes_are_refused_with_a_hint() -> None:
    with pytest.raises(TensorError, match="send FP32 instead"):
        tensors.from_json("x", "BF16", [1], [1])
    with pytest.raises(TensorError, match='unsupported datatype "COMPLEX"'):
        tensors.from_json("x", "COMPLEX", [1], [1])


def test_raw_data_round_trips_and_its_length_is_checked() -> None:
    array = np.arange(6, dtype=np.int64).reshape(2, 3)
    tensor = tensors.to_tensor("x", array)
    assert (tensor.datatype, tensor.shape) == ("INT64", [2, 3])
    back = tensors.from_raw("x", "INT64", [2, 3], tensors.raw_data(tensor))
    assert back.value.tolist() == array.tolist()
    with pytest.raises(TensorError, match="needs 48 bytes of data, got 40"):
        tensors.from_raw("x", "INT64", [2, 3], tensors.raw_data(tensor)[:40])


def test_bytes_tensors_are_lists_of_bytes_both_ways() -> None:
    tensor = tensors.from_json("s", "BYTES", [2], ["ab", "c"])
    assert tensor.value == [b"ab", b"c"]
    raw = tensors.raw_data(tensors.to_tensor("s", [b"ab", b"c"]))
    assert raw == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"
    assert tensors.from_raw("s", "BYTES", [1, 2], raw).value == [[b"ab", b"c"]]
    assert tensors.to_tensor("s", "text").shape == []
    assert tensors.json_data(tensors.to_tensor("s", np.array(["x", "y"]))) == ["x", "y"]


def test_non_utf8_bytes_cannot_go_out_as_json() -> None:
    with pytest.raises(TensorError, match="binary_data"):
        tensors.json_data(tensors.to_tensor("s", [b"\xff"]))


def test_one_input_is_its_value_several_are_a_dict() -> None:
    a = tensors.from_json("a", "INT64", [1], [1])
    b = tensors.from_json("b", "FP32", [1], [2])
    assert tensors.input_value([a]) is a.value
    assert set(tensors.input_value([a, b])) == {"a", "b"}


def test_output_naming_rules() -> None:
    (single,) = tensors.output_tensors(np.zeros(2, dtype=np.float32))
    assert (single.name, single.datatype) == ("output__0", "FP32")
    listed = tensors.output_tensors([np.zeros(1), np.ones(1)])
    assert [t.name for t in listed] == ["output__0", "output__1"]
    keyed = tensors.output_tensors({"label": ["cat"], "score": 0.5})
    assert [(t.name, t.datatype) for t in keyed] == [("label", "BYTES"), ("score", "FP64")]
    (number,) = tensors.output_tensors(3)
    assert (number.datatype, number.shape) == ("INT64", [])


def test_a_value_that_is_no_tensor_names_the_output() -> None:
    with pytest.raises(TensorError, match='output "x" is a dict that is not a tensor'):
        tensors.output_tensors({"x": {"nested": 1}})
