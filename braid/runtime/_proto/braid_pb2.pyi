from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Payload(_message.Message):
    __slots__ = ("header", "buffers", "shared")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BUFFERS_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    header: bytes
    buffers: _containers.RepeatedScalarFieldContainer[bytes]
    shared: _containers.RepeatedCompositeFieldContainer[SharedBuffer]
    def __init__(self, header: _Optional[bytes] = ..., buffers: _Optional[_Iterable[bytes]] = ..., shared: _Optional[_Iterable[_Union[SharedBuffer, _Mapping]]] = ...) -> None: ...

class SharedBuffer(_message.Message):
    __slots__ = ("index", "segment", "size")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    index: int
    segment: str
    size: int
    def __init__(self, index: _Optional[int] = ..., segment: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class Upstream(_message.Message):
    __slots__ = ("address", "key", "path", "value", "call")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    address: str
    key: str
    path: _containers.RepeatedScalarFieldContainer[str]
    value: Payload
    call: CallRequest
    def __init__(self, address: _Optional[str] = ..., key: _Optional[str] = ..., path: _Optional[_Iterable[str]] = ..., value: _Optional[_Union[Payload, _Mapping]] = ..., call: _Optional[_Union[CallRequest, _Mapping]] = ...) -> None: ...

class CallRequest(_message.Message):
    __slots__ = ("request_id", "graph", "step", "node", "method", "args", "upstreams", "result_key", "consumers", "return_result", "caller", "address", "then", "model_id", "context", "traceparent", "tracestate", "guard", "quorum")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAMS_FIELD_NUMBER: _ClassVar[int]
    RESULT_KEY_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    RETURN_RESULT_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    THEN_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    TRACESTATE_FIELD_NUMBER: _ClassVar[int]
    GUARD_FIELD_NUMBER: _ClassVar[int]
    QUORUM_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    graph: str
    step: str
    node: str
    method: str
    args: Payload
    upstreams: _containers.RepeatedCompositeFieldContainer[Upstream]
    result_key: str
    consumers: int
    return_result: bool
    caller: str
    address: str
    then: _containers.RepeatedCompositeFieldContainer[CallRequest]
    model_id: str
    context: FlowContext
    traceparent: str
    tracestate: str
    guard: FlowGuard
    quorum: FlowQuorum
    def __init__(self, request_id: _Optional[str] = ..., graph: _Optional[str] = ..., step: _Optional[str] = ..., node: _Optional[str] = ..., method: _Optional[str] = ..., args: _Optional[_Union[Payload, _Mapping]] = ..., upstreams: _Optional[_Iterable[_Union[Upstream, _Mapping]]] = ..., result_key: _Optional[str] = ..., consumers: _Optional[int] = ..., return_result: _Optional[bool] = ..., caller: _Optional[str] = ..., address: _Optional[str] = ..., then: _Optional[_Iterable[_Union[CallRequest, _Mapping]]] = ..., model_id: _Optional[str] = ..., context: _Optional[_Union[FlowContext, _Mapping]] = ..., traceparent: _Optional[str] = ..., tracestate: _Optional[str] = ..., guard: _Optional[_Union[FlowGuard, _Mapping]] = ..., quorum: _Optional[_Union[FlowQuorum, _Mapping]] = ...) -> None: ...

class FlowGuard(_message.Message):
    __slots__ = ("timeout", "attempts", "backoff", "max_backoff", "retry_on", "budget", "idempotent", "optional", "fallback_value", "fallback_node", "fallback_method")
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    RETRY_ON_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    OPTIONAL_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_VALUE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_NODE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_METHOD_FIELD_NUMBER: _ClassVar[int]
    timeout: float
    attempts: int
    backoff: float
    max_backoff: float
    retry_on: _containers.RepeatedScalarFieldContainer[str]
    budget: float
    idempotent: bool
    optional: bool
    fallback_value: Payload
    fallback_node: str
    fallback_method: str
    def __init__(self, timeout: _Optional[float] = ..., attempts: _Optional[int] = ..., backoff: _Optional[float] = ..., max_backoff: _Optional[float] = ..., retry_on: _Optional[_Iterable[str]] = ..., budget: _Optional[float] = ..., idempotent: _Optional[bool] = ..., optional: _Optional[bool] = ..., fallback_value: _Optional[_Union[Payload, _Mapping]] = ..., fallback_node: _Optional[str] = ..., fallback_method: _Optional[str] = ...) -> None: ...

class FlowQuorum(_message.Message):
    __slots__ = ("min", "within", "missing_index")
    MIN_FIELD_NUMBER: _ClassVar[int]
    WITHIN_FIELD_NUMBER: _ClassVar[int]
    MISSING_INDEX_FIELD_NUMBER: _ClassVar[int]
    min: int
    within: float
    missing_index: int
    def __init__(self, min: _Optional[int] = ..., within: _Optional[float] = ..., missing_index: _Optional[int] = ...) -> None: ...

class FlowDegraded(_message.Message):
    __slots__ = ("step", "reason", "message")
    STEP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    step: str
    reason: str
    message: str
    def __init__(self, step: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class FlowContext(_message.Message):
    __slots__ = ("headers",)
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    headers: _containers.ScalarMap[str, str]
    def __init__(self, headers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CallReply(_message.Message):
    __slots__ = ("result", "then", "models", "response_headers", "degraded")
    class ResponseHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RESULT_FIELD_NUMBER: _ClassVar[int]
    THEN_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    result: Payload
    then: _containers.RepeatedCompositeFieldContainer[CallReply]
    models: _containers.RepeatedScalarFieldContainer[str]
    response_headers: _containers.ScalarMap[str, str]
    degraded: _containers.RepeatedCompositeFieldContainer[FlowDegraded]
    def __init__(self, result: _Optional[_Union[Payload, _Mapping]] = ..., then: _Optional[_Iterable[_Union[CallReply, _Mapping]]] = ..., models: _Optional[_Iterable[str]] = ..., response_headers: _Optional[_Mapping[str, str]] = ..., degraded: _Optional[_Iterable[_Union[FlowDegraded, _Mapping]]] = ...) -> None: ...

class StreamItem(_message.Message):
    __slots__ = ("item", "final", "response_headers", "degraded")
    class ResponseHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ITEM_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    item: Payload
    final: bool
    response_headers: _containers.ScalarMap[str, str]
    degraded: _containers.RepeatedCompositeFieldContainer[FlowDegraded]
    def __init__(self, item: _Optional[_Union[Payload, _Mapping]] = ..., final: _Optional[bool] = ..., response_headers: _Optional[_Mapping[str, str]] = ..., degraded: _Optional[_Iterable[_Union[FlowDegraded, _Mapping]]] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("key", "path")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    key: str
    path: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., path: _Optional[_Iterable[str]] = ...) -> None: ...

class FetchReply(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: Payload
    def __init__(self, value: _Optional[_Union[Payload, _Mapping]] = ...) -> None: ...

class GraphRequest(_message.Message):
    __slots__ = ("graph", "json", "raw", "payload", "intermediates")
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INTERMEDIATES_FIELD_NUMBER: _ClassVar[int]
    graph: str
    json: str
    raw: bytes
    payload: Payload
    intermediates: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, graph: _Optional[str] = ..., json: _Optional[str] = ..., raw: _Optional[bytes] = ..., payload: _Optional[_Union[Payload, _Mapping]] = ..., intermediates: _Optional[_Iterable[str]] = ...) -> None: ...

class GraphReply(_message.Message):
    __slots__ = ("json", "raw", "payload", "intermediates_json", "intermediates", "degraded")
    JSON_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INTERMEDIATES_JSON_FIELD_NUMBER: _ClassVar[int]
    INTERMEDIATES_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    json: str
    raw: bytes
    payload: Payload
    intermediates_json: str
    intermediates: Payload
    degraded: _containers.RepeatedCompositeFieldContainer[FlowDegraded]
    def __init__(self, json: _Optional[str] = ..., raw: _Optional[bytes] = ..., payload: _Optional[_Union[Payload, _Mapping]] = ..., intermediates_json: _Optional[str] = ..., intermediates: _Optional[_Union[Payload, _Mapping]] = ..., degraded: _Optional[_Iterable[_Union[FlowDegraded, _Mapping]]] = ...) -> None: ...
