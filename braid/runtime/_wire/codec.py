"""braid's codec: values as a JSON header plus raw binary buffers, never pickle.

A :class:`~braid.runtime._proto.braid_pb2.Payload` holds a compact JSON ``header`` and a list of
``buffers``. JSON carries None, booleans, numbers, strings, lists and string-keyed dicts (tuples
become lists; pydantic models and dataclasses become dicts). Binary leaves travel out of band,
so nothing is base64'd:

- ``bytes``/``bytearray``/``memoryview`` -> ``{"$b": i}`` with the bytes in ``buffers[i]``;
- numpy arrays -> ``{"$nd": i, "dtype": "<f4", "shape": [..]}``; decoding gives a read-only
  array over the received buffer (no copy). Object arrays are refused: they would need pickle;
- :class:`UpstreamMarker` -> ``{"$up": i}``: an argument that a sidecar resolves from a peer
  before the user's code runs (see ``CallRequest.upstreams``);
- :class:`ReferenceMarker` -> ``{"$ref": i}``: a response passed by reference; the callee gets a
  response object and awaits it itself;
- a user dict with a key starting with ``$`` is escaped as ``{"$esc": [[key, value], ...]}`` so
  that user data is never read as a marker.

Decoding parses the header with ``json.loads`` and an ``object_hook`` that only looks at dicts
whose first key starts with ``$``; data from outside the graph is never unpickled, and the
decoder never calls user code. See docs/decisions/0002-serialization.md.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from braid.runtime._proto.braid_pb2 import Payload, SharedBuffer
from braid.runtime._wire.errors import CodecError

if TYPE_CHECKING:
    from braid.runtime._wire.shared_memory import SharedMemory

_SEPARATORS = (",", ":")
_MARKER_KEYS = frozenset({"$b", "$nd", "$up", "$ref", "$esc"})


@dataclasses.dataclass(frozen=True, slots=True)
class UpstreamMarker:
    """Stands for the value of ``CallRequest.upstreams[index]`` inside encoded arguments."""

    index: int


@dataclasses.dataclass(frozen=True, slots=True)
class ReferenceMarker:
    """Stands for a response passed by reference (``CallRequest.upstreams[index]``)."""

    index: int


class _Encoder:
    """One encoding: collects buffers while ``json.dumps`` walks the value."""

    __slots__ = ("buffers", "markers", "shared", "written")

    def __init__(self, shared: SharedMemory | None = None) -> None:
        self.buffers: list[bytes] = []
        self.markers = 0
        self.shared = shared
        #: Buffers written straight to shared memory (decision 0012), never copied into protobuf.
        self.written: list[SharedBuffer] = []

    def _add(self, buffer: Any) -> int:
        if self.shared is not None:
            written = self.shared.write_buffer(buffer)
            if written is not None:
                written.index = len(self.buffers)
                self.written.append(written)
                self.buffers.append(b"")
                return written.index
        self.buffers.append(bytes(buffer))
        return len(self.buffers) - 1

    def default(self, value: Any) -> Any:  # noqa: PLR0911 - one return per supported type
        if isinstance(value, (bytes, bytearray, memoryview)):
            self.markers += 1
            return {"$b": self._add(value)}
        if isinstance(value, UpstreamMarker):
            self.markers += 1
            return {"$up": value.index}
        if isinstance(value, ReferenceMarker):
            self.markers += 1
            return {"$ref": value.index}
        module = type(value).__module__
        if module == "numpy" or module.startswith("numpy."):
            return self._numpy(value)
        if hasattr(value, "model_dump") and callable(value.model_dump):
            return value.model_dump(mode="json")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if isinstance(value, (set, frozenset)):
            return sorted(value, key=repr)
        raise CodecError(
            f"cannot encode a value of type {module}.{type(value).__qualname__}; return JSON "
            "values (None, bool, numbers, str, lists, dicts with str keys), bytes or numpy arrays"
        )

    def _numpy(self, value: Any) -> Any:
        import numpy as np  # noqa: PLC0415 - numpy is optional; here a numpy value exists

        if not isinstance(value, np.ndarray):
            return value.item()  # a numpy scalar (np.float32(1.5)) becomes the Python number
        if value.dtype.hasobject:  # a 0-d array stays an array, with shape []
            raise CodecError("cannot encode a numpy array of Python objects (it would need pickle)")

        contiguous = np.ascontiguousarray(value)
        self.markers += 1
        # A 0-d or empty array has no memoryview of its own bytes to cast; tobytes() is tiny.
        data = contiguous.reshape(-1).view(np.uint8) if contiguous.size else contiguous.tobytes()
        return {
            "$nd": self._add(data),
            "dtype": contiguous.dtype.str,
            "shape": list(value.shape),
        }


def encode(value: Any, *, shared: SharedMemory | None = None) -> Payload:
    """Encode ``value`` into a payload; :class:`CodecError` names what cannot be encoded.

    With ``shared``, buffers from its threshold up are written once to shared memory and the
    payload refers to them (its receiver must share the folder; decision 0012)."""
    encoder = _Encoder(shared)
    try:
        # allow_nan=False: NaN and Infinity are not JSON; a client could not parse the answer.
        header = json.dumps(value, default=encoder.default, separators=_SEPARATORS, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"cannot encode value: {exc}") from exc
    except RecursionError:
        raise CodecError("cannot encode value: it is nested too deeply") from None
    # Strings or keys of the user's own that start with "$" could be read as markers: take the
    # slow path that escapes such dicts only when the header holds more "$ than we emitted.
    if header.count('"$') > encoder.markers:
        if shared is not None and encoder.written:
            shared.release(entry.segment for entry in encoder.written)
        encoder = _Encoder(shared)
        header = json.dumps(
            _escape(value), default=encoder.default, separators=_SEPARATORS, allow_nan=False
        )
    return Payload(header=header.encode(), buffers=encoder.buffers, shared=encoder.written)


def _escape(value: Any) -> Any:
    if isinstance(value, dict):
        items = [(key, _escape(item)) for key, item in value.items()]
        if any(isinstance(key, str) and key.startswith("$") for key, _ in items):
            return {"$esc": [[key, item] for key, item in items]}
        return dict(items)
    if isinstance(value, (list, tuple)):
        return [_escape(item) for item in value]
    return value


Resolver = Callable[[int], Any]


def decode(
    payload: Payload,
    *,
    upstream: Resolver | None = None,
    reference: Resolver | None = None,
    buffers: Sequence[bytes] | None = None,
) -> Any:
    """Decode ``payload``. ``upstream``/``reference`` turn ``$up``/``$ref`` markers into values.
    ``buffers`` replaces ``payload.buffers`` (with those from shared memory read in)."""
    header = payload.header
    if not header:
        return None
    if buffers is None:
        if payload.shared:
            raise CodecError("a value in shared memory reached a process that cannot read it")
        buffers = payload.buffers
    if b'"$' not in header:
        return _loads(header, None)

    def hook(obj: dict[str, Any]) -> Any:
        if len(obj) > 3:
            return obj
        key = next(iter(obj), "")
        if key not in _MARKER_KEYS:
            return obj
        if key == "$b":
            return _buffer(buffers, obj["$b"])
        if key == "$nd":
            return _array(buffers, obj)
        if key == "$esc":
            return {pair[0]: pair[1] for pair in obj["$esc"]}
        resolver = upstream if key == "$up" else reference
        if resolver is None:
            raise CodecError(f"unexpected {key} marker in a payload")
        return resolver(int(obj[key]))

    return _loads(header, hook)


def _no_constant(name: str) -> Any:
    # Encoding never writes NaN or Infinity (they are not JSON); a payload that holds them came
    # from elsewhere, and its value could not be sent on.
    raise ValueError(f"{name} is not a JSON number")


def _loads(header: bytes, hook: Callable[[dict[str, Any]], Any] | None) -> Any:
    try:
        return json.loads(header, object_hook=hook, parse_constant=_no_constant)
    except RecursionError:
        raise CodecError("malformed payload: its header is nested too deeply") from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise CodecError(f"malformed payload: {exc}") from exc


def _buffer(buffers: Sequence[bytes], index: Any) -> bytes:
    if not isinstance(index, int) or not 0 <= index < len(buffers):
        raise CodecError(f"malformed payload: buffer index {index!r} out of range")
    return buffers[index]


def _array(buffers: Sequence[bytes], marker: dict[str, Any]) -> Any:
    try:
        import numpy as np  # noqa: PLC0415 - numpy is optional in model images
    except ImportError as exc:  # pragma: no cover - depends on the image
        raise CodecError("received a numpy array but numpy is not installed here") from exc
    data = _buffer(buffers, marker["$nd"])
    try:
        dtype = np.dtype(marker["dtype"])
        if dtype.hasobject:
            raise CodecError("refusing a numpy array of Python objects")
        return np.frombuffer(data, dtype=dtype).reshape(marker["shape"])
    except (TypeError, ValueError) as exc:
        raise CodecError(f"malformed numpy array in payload: {exc}") from exc


def payload_size(payload: Payload) -> int:
    """Bytes of a payload on the wire, roughly (header plus buffers)."""
    shared: int = sum(int(entry.size) for entry in payload.shared)
    return len(payload.header) + sum(len(buffer) for buffer in payload.buffers) + shared
