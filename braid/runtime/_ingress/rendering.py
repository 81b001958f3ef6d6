"""Turning graph inputs and outputs into the ingress's wire formats, and back.

Outputs: a graph's result arrives as a braid codec payload (a JSON header plus raw buffers).
When it holds no binary leaf and no field is picked, its header already *is* the JSON answer and
goes out as it is, with no decode and re-encode. A result that is bytes as a whole goes out raw
(``application/octet-stream``, gRPC ``raw``) straight from its buffer. Otherwise the value is
decoded and written as JSON: numpy arrays become nested lists and bytes nested inside JSON
become base64 text, the only place braid base64s anything, since JSON has no bytes type.

Inputs: JSON text (never anything that could be unpickled), raw bytes, or, over gRPC, a codec
payload for numpy arrays and nested bytes; markers that only sidecars may use are refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from braid.runtime._flow.results import Output
from braid.runtime._proto.braid_pb2 import FlowDegraded, GraphReply, GraphRequest, Payload
from braid.runtime._wire.codec import decode, encode
from braid.runtime._wire.errors import BadRequest, CodecError, RequestError

_RAW_BYTES_HEADER = b'{"$b":0}'
_SEPARATORS = (",", ":")


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return value.tolist()
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")


def to_json(value: Any) -> bytes:
    """Compact JSON of a decoded value (numpy as lists, nested bytes as base64)."""
    try:
        return json.dumps(value, default=_json_default, separators=_SEPARATORS).encode()
    except (TypeError, ValueError) as exc:
        raise RequestError(f"the graph's output cannot be written as JSON: {exc}") from exc


def raw_bytes(output: Output) -> bytes | None:
    """The output as bytes when the whole result is one bytes value, else ``None``."""
    payload = output.payload
    if not output.path and payload.header == _RAW_BYTES_HEADER and len(payload.buffers) == 1:
        buffer: bytes = payload.buffers[0]
        return buffer
    if output.path or payload.buffers:
        value = output.value()
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
    return None


def output_json(output: Output) -> bytes:
    """The output as JSON bytes."""
    payload = output.payload
    if not output.path and not payload.buffers and b'"$' not in payload.header:
        return payload.header or b"null"
    return to_json(output.value())


def parse_json(body: bytes, *, what: str = "request body") -> Any:
    """Parse a JSON input; :class:`BadRequest` says where the JSON is broken."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the {what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise BadRequest(f"the {what} is nested too deeply") from None
    except UnicodeDecodeError:
        raise BadRequest(f"the {what} is not UTF-8 text") from None
    except ValueError as exc:  # NaN and Infinity; integers over Python's 4,300-digit limit
        reason = str(exc).split("\n", 1)[0].split(";", 1)[0]
        raise BadRequest(f"the {what} is not valid JSON: {reason}") from None


def _refuse_constant(name: str) -> Any:
    """JSON has no NaN or Infinity: refuse them rather than echo them back as invalid JSON."""
    raise ValueError(f"{name} is not a JSON number")


def _refuse_marker(index: int) -> Any:
    raise CodecError("a graph input cannot hold $up or $ref markers")


#: Below this size a raw input is copied into ``bytes`` (cheap); above, it stays a view.
_RAW_VIEW_BYTES = 64 * 1024


def raw_request(data: bytes) -> tuple[str, bytes | memoryview] | None:
    """A serialized ``GraphRequest`` with ``graph`` and ``raw`` only, read without copying the
    raw input (a large one stays a view of ``data``, written from there to shared memory:
    decision 0012); None for anything else, which the protobuf parser then reads."""
    view, position, graph, raw = memoryview(data), 0, "", None
    while position < len(view):
        tag, position = _varint(view, position)
        size, position = _varint(view, position) if tag & 7 == 2 else (-1, position)
        end = position + size
        if size < 0 or end > len(view) or tag >> 3 not in (1, 3):
            return None
        if tag >> 3 == 1:
            try:
                graph = str(view[position:end], "utf-8")
            except UnicodeDecodeError:
                return None
        else:
            raw = view[position:end]
        position = end
    if raw is None:
        return None
    if len(raw) < _RAW_VIEW_BYTES:
        return graph, raw.tobytes()
    return graph, raw


def _varint(view: memoryview, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it; (-1, ...) when malformed."""
    value = shift = 0
    while position < len(view) and shift < 64:
        byte = view[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    return -1, position


def grpc_input(request: GraphRequest) -> Any:
    """The graph input of a ``GraphRequest`` (``json``, ``raw`` or ``payload``)."""
    which = request.WhichOneof("input")
    if which == "json":
        return parse_json(request.json.encode(), what="GraphRequest.json")
    if which == "raw":
        return request.raw
    if which == "payload":
        try:
            return decode(request.payload, upstream=_refuse_marker, reference=_refuse_marker)
        except CodecError as exc:
            raise BadRequest(f"GraphRequest.payload: {exc}") from exc
    return None


def framed_reply(output: Output) -> GraphReply | bytes:
    """:func:`grpc_reply`, with a raw output as the serialized ``GraphReply`` framed here: one
    copy of the bytes where building and serializing the message makes two (decision 0012)."""
    raw = raw_bytes(output)
    if raw is None:
        return grpc_reply(output)
    size, head = len(raw), bytearray(b"\x12")  # field 2 (raw), length-delimited
    while size >= 0x80:
        head.append((size & 0x7F) | 0x80)
        size >>= 7
    head.append(size)
    return b"".join((head, raw))


def grpc_reply(output: Output) -> GraphReply:
    """A ``GraphReply``: JSON text when the value is JSON, raw bytes, or the codec payload."""
    raw = raw_bytes(output)
    if raw is not None:
        return GraphReply(raw=raw)
    payload = output.payload
    if not output.path and not payload.buffers and b'"$' not in payload.header:
        return GraphReply(json=(payload.header or b"null").decode())
    value = output.value()
    if not output.path and payload.buffers:
        return GraphReply(payload=payload)
    try:
        return GraphReply(json=json.dumps(value, separators=_SEPARATORS))
    except (TypeError, ValueError):  # a picked field that holds bytes or an array
        picked: Payload = encode(value)
        return GraphReply(payload=picked)


#: The response header (HTTP) and trailing metadata key (gRPC) that name the steps that
#: degraded: answered with their fallback or were missing from a quorum (decision 0021).
DEGRADED_HEADER = "braid-degraded"
#: The request header that asks for the degraded steps in the JSON body too.
REPORT_HEADER = "braid-report"


def degraded_names(degraded: Sequence[FlowDegraded]) -> str:
    """The header value: the degraded steps' names, comma-separated."""
    return ",".join(item.step for item in degraded)


def with_degraded(reply: GraphReply | bytes, degraded: Sequence[FlowDegraded]) -> GraphReply:
    """``reply`` with its ``degraded`` list (a framed raw reply is parsed back first)."""
    message = GraphReply.FromString(reply) if isinstance(reply, bytes) else reply
    message.degraded.extend(degraded)
    return message


def degraded_json(output: bytes, degraded: Sequence[FlowDegraded]) -> bytes:
    """A JSON output wrapped with the degraded steps, for a client that asked for them."""
    items = [{"step": d.step, "reason": d.reason, "message": d.message} for d in degraded]
    report = json.dumps(items, separators=_SEPARATORS).encode()
    return b'{"output":' + output.strip() + b',"degraded":' + report + b"}"
