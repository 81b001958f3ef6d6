"""The ``inference`` node kind: a node that fronts an Open Inference Protocol (KServe v2) server.

Triton, MLServer and KServe's runtimes all speak the protocol. Like an ``http`` node, the node's
image runs the server (``command``, ``args``) on ``port`` in the pod, and braid's sidecar calls
it; unlike one, the sidecar speaks the protocol itself: a call's arrays go out as named input
tensors of ``model`` and the output tensors come back as arrays, so that a graph chains v2
models step to step (decision 0017).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from braid.spec._base import SpecModel

#: The one method an inference node serves: ``node.infer`` (or ``node`` alone) in a step.
INFER_METHOD = "infer"


class InferenceProtocol(StrEnum):
    HTTP = "http"
    GRPC = "grpc"


class InferenceServer(SpecModel):
    """An Open Inference Protocol server that the node fronts instead of Python code."""

    model: str = Field(
        min_length=1,
        pattern=r"^[^/\s]+$",
        description="Name of the model on the server, as in /v2/models/<model>/infer.",
    )
    version: str | None = Field(
        default=None,
        pattern=r"^[^/\s]+$",
        description="Version of the model; the server's default version if unset.",
    )
    protocol: InferenceProtocol = Field(
        default=InferenceProtocol.HTTP,
        strict=False,
        description="How the sidecar calls the server: http (REST) or grpc.",
    )
    port: int = Field(ge=1, le=65535, description="Port of the server for that protocol.")
    command: list[str] | None = Field(
        default=None,
        description="Command that starts the server (the image's entrypoint if unset).",
    )
    args: list[str] | None = Field(default=None, description="Arguments of the command.")
    readiness_path: str = Field(
        default="/v2/health/ready",
        pattern=r"^/",
        description=(
            "HTTP path that answers 2xx once the server is ready (protocol http); with grpc, "
            "readiness is the gRPC health checking protocol on the port."
        ),
    )
    outputs: list[str] = Field(
        default_factory=list,
        description=(
            "Output tensors to ask for, in order; all the model's outputs if empty. One output "
            "comes back as an array, several as a dict of name to array."
        ),
    )
