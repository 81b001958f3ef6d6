"""The data plane: sidecar, worker, handles, ingress (HTTP and gRPC) and the local launcher.

User code meets :class:`Handle`, :class:`Response` and :class:`StreamingResponse`; the CLI and
the launcher use :class:`ReplicaSettings` and :func:`serve_replica`.
"""

from braid.runtime._code import code_problems
from braid.runtime._errors import (
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
    UpstreamFailed,
    UserCodeError,
)
from braid.runtime._handles import Handle, RemoteResponse, Response, StreamingResponse
from braid.runtime._hosting import ReplicaSettings, serve_replica
from braid.runtime._ingress import IngressSettings, serve_ingress
from braid.runtime._kubernetes_discovery import ClusterAccess
from braid.runtime._launcher_processes import LaunchError
from braid.runtime._launching import GraphFile, Launcher, LaunchSettings
from braid.runtime._serving import App, GraphCaller, GraphResponse, GraphStream, run

__all__ = [
    "App",
    "BadRequest",
    "BraidRuntimeError",
    "Cancelled",
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
    "LoadError",
    "NotFound",
    "Overloaded",
    "RemoteResponse",
    "ReplicaSettings",
    "ReplicaUnavailable",
    "RequestError",
    "Response",
    "StreamingResponse",
    "UpstreamFailed",
    "UserCodeError",
    "code_problems",
    "run",
    "serve_ingress",
    "serve_replica",
]
