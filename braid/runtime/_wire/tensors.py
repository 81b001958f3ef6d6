"""Tensors of the Open Inference Protocol (KServe v2) and the values braid's flows carry.

The ingress (which serves a graph as a v2 model) and the inference node's executor (which calls
a v2 server as a step) both turn named tensors into values and back, so the rules live here,
below both (decision 0017):

- datatypes map to numpy dtypes by :data:`DTYPES`; ``BYTES`` is a list of ``bytes`` (nested by
  the shape) on braid's side, because braid's codec refuses numpy object arrays;
- a tensor's data is JSON (a flat or nested list, row-major) or raw little-endian bytes (the
  binary extension over HTTP, ``raw_*_contents`` over gRPC), where each ``BYTES`` element is
  prefixed with its length as 4 little-endian bytes;
- tensors become a graph's input by :func:`input_value` (one tensor: its array; several: a dict
  of name to array) and a graph's output becomes tensors by :func:`output_tensors` (an array or
  scalar: one tensor named ``output__0``, or the name the manifest gives; a dict: one tensor per
  key; a list of arrays: ``output__0``, ``output__1``, ...).

Every problem is a :class:`TensorError` whose message names the tensor and what is wrong.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: v2 datatypes and the numpy dtypes they travel as (little-endian, as the protocol says).
DTYPES: dict[str, str] = {
    "BOOL": "|b1",
    "UINT8": "|u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "|i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
BYTES = "BYTES"
#: Every datatype braid serves; BF16 has no numpy dtype and is refused with a hint.
DATATYPES = (*DTYPES, BYTES)
#: The name of a graph output that is a single array (or of each array of a list of them).
DEFAULT_OUTPUT = "output__{}"
_LENGTH = struct.Struct("<I")


def _numpy() -> Any:
    """numpy, which braid's runtime takes as an extra (``braid[numpy]``); the image has it."""
    try:
        import numpy  # noqa: PLC0415 - optional: only tensors need it
    except ImportError:
        raise TensorError(
            "the Open Inference Protocol needs numpy here; install braid[numpy]"
        ) from None
    return numpy


class TensorError(ValueError):
    """A tensor that is malformed, or a value that cannot be a tensor (the message says which)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class Tensor:
    """One named tensor: its datatype, its shape, and its value (an array, or a BYTES list)."""

    name: str
    datatype: str
    shape: list[int]
    value: Any
    parameters: dict[str, Any] = field(default_factory=dict)


def check_datatype(name: str, datatype: str) -> None:
    if datatype in DATATYPES:
        return
    hint = "; send FP32 instead" if datatype == "BF16" else ""
    known = ", ".join(DATATYPES)
    raise TensorError(
        f'tensor "{name}": unsupported datatype "{datatype[:20]}"{hint}; braid serves {known}'
    )


def check_shape(name: str, shape: Sequence[Any]) -> list[int]:
    if not isinstance(shape, Sequence) or isinstance(shape, (str, bytes)):
        raise TensorError(f'tensor "{name}": shape must be a list of dimensions')
    dims = list(shape)
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in dims):
        raise TensorError(f'tensor "{name}": shape {dims!r} must hold whole numbers, 0 or more')
    return dims


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _nest(flat: Sequence[Any], shape: Sequence[int]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = element_count(shape[1:])
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _check_count(name: str, shape: list[int], count: int, what: str) -> None:
    expected = element_count(shape)
    if count != expected:
        raise TensorError(
            f'tensor "{name}": shape {shape} holds {expected} elements but its {what} has {count}'
        )


def from_json(name: str, datatype: str, shape: Sequence[Any], data: Any) -> Tensor:
    """A tensor from its JSON form (``data`` flat or nested, row-major)."""
    np = _numpy()
    check_datatype(name, datatype)
    dims = check_shape(name, shape)
    flat = _flatten(data)
    _check_count(name, dims, len(flat), "data")
    if datatype == BYTES:
        items = []
        for item in flat:
            if isinstance(item, str):
                items.append(item.encode())
            elif isinstance(item, dict) and isinstance(item.get("b64"), str):
                items.append(base64.b64decode(item["b64"]))
            else:
                raise TensorError(f'tensor "{name}": BYTES data must be strings')
        return Tensor(name, datatype, dims, _nest(items, dims))
    if any(isinstance(item, (list, dict, str)) or item is None for item in flat):
        raise TensorError(f'tensor "{name}": {datatype} data must be numbers')
    if datatype == "BOOL" and not all(isinstance(item, bool) for item in flat):
        raise TensorError(f'tensor "{name}": BOOL data must be true or false')
    try:
        array = np.asarray(flat, dtype=DTYPES[datatype]).reshape(dims)
    except (OverflowError, TypeError, ValueError) as exc:
        raise TensorError(f'tensor "{name}": data do not fit {datatype}: {exc}') from None
    return Tensor(name, datatype, dims, array)


def from_raw(name: str, datatype: str, shape: Sequence[Any], raw: bytes) -> Tensor:
    """A tensor from its raw bytes (little-endian, row-major; BYTES length-prefixed)."""
    np = _numpy()
    check_datatype(name, datatype)
    dims = check_shape(name, shape)
    if datatype == BYTES:
        items, offset = [], 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise TensorError(f'tensor "{name}": BYTES data end inside a length prefix')
            (length,) = _LENGTH.unpack_from(raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise TensorError(f'tensor "{name}": a BYTES element runs past the data')
            items.append(bytes(raw[offset : offset + length]))
            offset += length
        _check_count(name, dims, len(items), "data")
        return Tensor(name, datatype, dims, _nest(items, dims))
    dtype = np.dtype(DTYPES[datatype])
    expected = element_count(dims) * dtype.itemsize
    if len(raw) != expected:
        raise TensorError(
            f'tensor "{name}": shape {dims} of {datatype} needs {expected} bytes of data, '
            f"got {len(raw)}"
        )
    return Tensor(name, datatype, dims, np.frombuffer(raw, dtype=dtype).reshape(dims))


#: The typed contents field of each datatype in the protocol's gRPC messages.
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP16": "fp32_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def from_contents(name: str, datatype: str, shape: Sequence[Any], contents: Any) -> Tensor:
    """A tensor from the typed ``contents`` of a gRPC message (``InferTensorContents``)."""
    check_datatype(name, datatype)
    values = list(getattr(contents, CONTENTS_FIELDS[datatype]))
    if datatype != BYTES:
        return from_json(name, datatype, shape, values)
    dims = check_shape(name, shape)
    _check_count(name, dims, len(values), "contents")
    return Tensor(name, datatype, dims, _nest([bytes(v) for v in values], dims))


def _bytes_items(value: Any) -> tuple[list[bytes], list[int]] | None:
    """The flat items and shape of a BYTES value (str/bytes, lists of them, S/U/O arrays)."""
    np = _numpy()
    if isinstance(value, (bytes, str)):
        return [value.encode() if isinstance(value, str) else value], []
    if isinstance(value, np.ndarray) and value.dtype.kind in "SUO":
        shape = list(value.shape)
        value = value.tolist()
    elif isinstance(value, (list, tuple)):
        shape = []
        probe: Any = value
        while isinstance(probe, (list, tuple)):
            shape.append(len(probe))
            probe = probe[0] if probe else None
        if not isinstance(probe, (bytes, str)):
            return None
    else:
        return None
    flat = _flatten(_listify(value))
    if not all(isinstance(item, (bytes, str)) for item in flat):
        return None
    if len(flat) != element_count(shape):
        return None
    return [item.encode() if isinstance(item, str) else item for item in flat], shape


def _listify(value: Any) -> Any:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [_listify(item) for item in value]
    return value


def to_tensor(name: str, value: Any) -> Tensor:
    """A value as a tensor: a numpy array or scalar, a number, a list of numbers, or bytes/str
    (``BYTES``). Anything else is a :class:`TensorError` naming the tensor."""
    np = _numpy()
    if isinstance(value, Tensor):
        return value
    strings = _bytes_items(value)
    if strings is not None:
        items, shape = strings
        return Tensor(name, BYTES, shape, _nest(items, shape) if shape else items)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.dtype.kind == "f" and array.dtype.itemsize not in (2, 4, 8):
        array = array.astype("<f8")
    datatype = next(
        (dt for dt, dtype in DTYPES.items() if np.dtype(dtype) == array.dtype.newbyteorder("<")),
        None,
    )
    if datatype is None:
        kind = type(value).__name__
        raise TensorError(
            f'output "{name}" is a {kind} that is not a tensor; return numpy arrays, numbers, '
            "strings or bytes (or a dict of them)"
        )
    return Tensor(name, datatype, list(array.shape), array)


def input_value(tensors: Sequence[Tensor]) -> Any:
    """The graph's input: one tensor's value, or a dict of name to value for several."""
    if len(tensors) == 1:
        return tensors[0].value
    return {tensor.name: tensor.value for tensor in tensors}


def output_tensors(value: Any, names: Sequence[str] = ()) -> list[Tensor]:
    """A graph's output as tensors: a dict gives one per key; a list or tuple of arrays one per
    item; anything else one tensor. ``names`` names them (``output__<i>`` beyond it)."""
    np = _numpy()

    def name_of(index: int) -> str:
        return names[index] if index < len(names) else DEFAULT_OUTPUT.format(index)

    if isinstance(value, Mapping):
        return [to_tensor(str(key), item) for key, item in value.items()]
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(item, np.ndarray) for item in value)
    ):
        return [to_tensor(name_of(i), item) for i, item in enumerate(value)]
    return [to_tensor(name_of(0), value)]


def json_data(tensor: Tensor) -> list[Any]:
    """A tensor's data as the flat JSON list the protocol answers with."""
    np = _numpy()
    if tensor.datatype == BYTES:
        items = _bytes_items(tensor.value)
        flat = items[0] if items is not None else []
        try:
            return [item.decode() for item in flat]
        except UnicodeDecodeError:
            raise TensorError(
                f'output "{tensor.name}" holds bytes that are not UTF-8 text, which JSON cannot '
                'carry; ask for it as binary data ("binary_data": true)'
            ) from None
    data: list[Any] = np.asarray(tensor.value).reshape(-1).tolist()
    return data


def raw_data(tensor: Tensor) -> bytes:
    """A tensor's data as raw bytes (little-endian; BYTES elements length-prefixed)."""
    np = _numpy()
    if tensor.datatype == BYTES:
        items = _bytes_items(tensor.value)
        flat = items[0] if items is not None else []
        return b"".join(_LENGTH.pack(len(item)) + item for item in flat)
    array = np.ascontiguousarray(tensor.value, dtype=DTYPES[tensor.datatype])
    data: bytes = array.tobytes()
    return data
