"""The data plane: sidecar, worker, handles, ingress (HTTP and gRPC) and the local launcher.

User code meets :class:`Handle`, :class:`Response` and :class:`StreamingResponse`; the CLI and
the launcher use :class:`ReplicaSettings` and :func:`serve_replica`.

The names are imported on first use (PEP 562): a sidecar imports the replica's modules, not the
ingress's HTTP server or the launcher, which keeps an idle replica's memory down (issue 11).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from braid.runtime._client.calls import GraphCaller, GraphResponse, GraphStream
    from braid.runtime._client.connecting import Client, connect
    from braid.runtime._discovery.endpointslices import ClusterAccess
    from braid.runtime._ingress.http_listener import TlsFiles
    from braid.runtime._ingress.serving import IngressSettings, serve_ingress
    from braid.runtime._local.apps import App, run
    from braid.runtime._local.entry import EntryReplica
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
        QuorumNotReached,
        ReplicaUnavailable,
        RequestError,
        StepTimedOut,
        StreamingOutput,
        UpstreamFailed,
        UserCodeError,
    )
    from braid.runtime._wire.shared_memory import SharedMemorySettings

#: Each public name and the module it lives in.
_MODULES = {
    "App": "braid.runtime._local.apps",
    "BadRequest": "braid.runtime._wire.errors",
    "BraidRuntimeError": "braid.runtime._wire.errors",
    "Cancelled": "braid.runtime._wire.errors",
    "Client": "braid.runtime._client.connecting",
    "ClusterAccess": "braid.runtime._discovery.endpointslices",
    "CodecError": "braid.runtime._wire.errors",
    "DeadlineExceeded": "braid.runtime._wire.errors",
    "EntryReplica": "braid.runtime._local.entry",
    "GraphCaller": "braid.runtime._client.calls",
    "GraphFile": "braid.runtime._local.launching",
    "GraphResponse": "braid.runtime._client.calls",
    "GraphStream": "braid.runtime._client.calls",
    "Handle": "braid.runtime._replica.handles",
    "IngressSettings": "braid.runtime._ingress.serving",
    "LaunchError": "braid.runtime._local.processes",
    "LaunchSettings": "braid.runtime._local.launching",
    "Launcher": "braid.runtime._local.launching",
    "Layout": "braid.runtime._local.launching",
    "LoadError": "braid.runtime._wire.errors",
    "NotFound": "braid.runtime._wire.errors",
    "Overloaded": "braid.runtime._wire.errors",
    "QuorumNotReached": "braid.runtime._wire.errors",
    "RemoteResponse": "braid.runtime._replica.handles",
    "RequestContext": "braid.runtime._replica.contexts",
    "ReplicaSettings": "braid.runtime._replica.hosting",
    "ReplicaUnavailable": "braid.runtime._wire.errors",
    "RequestError": "braid.runtime._wire.errors",
    "Response": "braid.runtime._replica.handles",
    "SharedMemorySettings": "braid.runtime._wire.shared_memory",
    "StepTimedOut": "braid.runtime._wire.errors",
    "StreamingOutput": "braid.runtime._wire.errors",
    "StreamingResponse": "braid.runtime._replica.handles",
    "TlsFiles": "braid.runtime._ingress.http_listener",
    "UpstreamFailed": "braid.runtime._wire.errors",
    "UserCodeError": "braid.runtime._wire.errors",
    "code_problems": "braid.runtime._replica.code",
    "connect": "braid.runtime._client.connecting",
    "get_model": "braid.runtime._replica.handles",
    "get_model_id": "braid.runtime._replica.handles",
    "request_context": "braid.runtime._replica.contexts",
    "run": "braid.runtime._local.apps",
    "serve_ingress": "braid.runtime._ingress.serving",
    "serve_replica": "braid.runtime._replica.hosting",
}

__all__ = [
    "App",
    "BadRequest",
    "BraidRuntimeError",
    "Cancelled",
    "Client",
    "ClusterAccess",
    "CodecError",
    "DeadlineExceeded",
    "EntryReplica",
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
    "QuorumNotReached",
    "RemoteResponse",
    "ReplicaSettings",
    "ReplicaUnavailable",
    "RequestContext",
    "RequestError",
    "Response",
    "SharedMemorySettings",
    "StepTimedOut",
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


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'braid.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
