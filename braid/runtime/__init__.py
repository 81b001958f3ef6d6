"""The data plane: sidecar, worker, handles, ingress (HTTP and gRPC) and the local launcher.

User code meets :class:`Handle`, :class:`Response` and :class:`StreamingResponse`; the CLI and
the launcher use :class:`ReplicaSettings` and :func:`serve_replica`.
"""

from braid.runtime._client.calls import GraphCaller, GraphResponse, GraphStream
from braid.runtime._client.connecting import Client, connect
from braid.runtime._discovery.endpointslices import ClusterAccess
from braid.runtime._ingress.http_listener import TlsFiles
from braid.runtime._ingress.serving import IngressSettings, serve_ingress
from braid.runtime._local.apps import App, run
from braid.runtime._local.launching import GraphFile, Launcher, LaunchSettings, Layout
from braid.runtime._local.processes import LaunchError
from braid.runtime._replica.code import code_problems
from braid.runtime._replica.contexts import RequestContext, request_context
from braid.runtime._replica.handles import (
    Handle,
    RemoteResponse,
    Response,
    StreamingResponse,
    get_model,
    get_model_id,
)
from braid.runtime._replica.hosting import ReplicaSettings, serve_replica
from braid.runtime._wire.errors import (
    BadRequest,
    BraidRuntimeError,
    Cancelled,
    CodecError,
    DeadlineExceeded,
    LoadError,
    NotFound,
    Overloaded,
    ReplicaUnavailable,
    RequestError,
    StreamingOutput,
    UpstreamFailed,
    UserCodeError,
)
from braid.runtime._wire.shared_memory import SharedMemorySettings

__all__ = [
    "App",
    "BadRequest",
    "BraidRuntimeError",
    "Cancelled",
    "Client",
    "ClusterAccess",
    "CodecError",
    "DeadlineExceeded",
    "GraphCaller",
    "GraphFile",
    "GraphResponse",
    "GraphStream",
    "Handle",
    "IngressSettings",
    "LaunchError",
    "LaunchSettings",
    "Launcher",
    "Layout",
    "LoadError",
    "NotFound",
    "Overloaded",
    "RemoteResponse",
    "ReplicaSettings",
    "ReplicaUnavailable",
    "RequestContext",
    "RequestError",
    "Response",
    "SharedMemorySettings",
    "StreamingOutput",
    "StreamingResponse",
    "TlsFiles",
    "UpstreamFailed",
    "UserCodeError",
    "code_problems",
    "connect",
    "get_model",
    "get_model_id",
    "request_context",
    "run",
    "serve_ingress",
    "serve_replica",
]
