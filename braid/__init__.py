"""braid: declarative deployment graphs for multi-model inference on Kubernetes.

The package is split by plane, and the layout is the architecture:

- ``braid.spec``: the ``DeploymentGraph`` model and its validation (depends on nothing of ours);
- ``braid.runtime``: the data plane (sidecar, worker, handles, ingress, local launcher);
- ``braid.operator``: the control plane (kopf handlers, rendering, status);
- ``braid.cli``: the ``braid`` command, on top of all three;
- ``braid.connect(target)``: a client of graphs already running (from ``braid.runtime``);
- ``braid.request_context()``: in node code, the request being served (from ``braid.runtime``).
"""

from typing import TYPE_CHECKING, Any

from braid._version import __version__

if TYPE_CHECKING:
    from braid.runtime import connect, request_context

__all__ = ["__version__", "connect", "request_context"]


def __getattr__(name: str) -> Any:
    # braid.connect imports gRPC on first use only: `import braid.authoring` stays light.
    if name == "connect":
        from braid.runtime import connect  # noqa: PLC0415

        return connect
    if name == "request_context":
        from braid.runtime import request_context  # noqa: PLC0415

        return request_context
    raise AttributeError(f"module 'braid' has no attribute {name!r}")
