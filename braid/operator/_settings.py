"""The operator's settings: one frozen model, built by the CLI from flags and env, passed down.

Nothing in :mod:`braid.operator` reads the environment; ``braid operator`` and ``braid render``
build an :class:`OperatorSettings` and hand it to the renderer and the handlers, so that what
``braid render`` prints is exactly what the operator applies with the same settings.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from braid._version import __version__

#: The image the operator, the sidecars, the ingress and image-less nodes run by default. It
#: ships braid and the examples (see the Dockerfile), so that an example applies as it is.
DEFAULT_RUNTIME_IMAGE = f"ghcr.io/braid-dev/braid:{__version__}"


class OperatorSettings(BaseModel):
    """How the operator renders graphs and where it watches them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runtime_image: str = Field(
        default=DEFAULT_RUNTIME_IMAGE,
        description="braid's image: sidecars, the ingress, and nodes that name no image.",
    )
    image_pull_policy: str = Field(
        default="IfNotPresent", description="imagePullPolicy of every braid container."
    )
    gpu_resource_name: str = Field(
        default="nvidia.com/gpu",
        description="Extended resource of a whole GPU when a node does not name one.",
    )
    run_as_user: int = Field(
        default=65532,
        ge=1,
        description="The fixed non-root UID (and GID) of every pod; the image's user.",
    )
    pod_disruption_budgets: bool = Field(
        default=False,
        description="Render a PodDisruptionBudget (maxUnavailable 20%) per node and the ingress.",
    )
    network_policies: bool = Field(
        default=False,
        description="Render a NetworkPolicy that admits only the graph's own pods to its nodes.",
    )
    graph_page: bool = Field(
        default=True,
        description="Serve the live graph page at /-/graph on every ingress (chart: graphPage).",
    )
    tracing_env: dict[str, str] = Field(
        default_factory=dict,
        description="OTEL_* variables (OpenTelemetry tracing, docs/decisions/0020-tracing.md) "
        "set on every sidecar, worker and ingress container (chart: tracing.env).",
    )
    sidecar_cpu_request: str = Field(default="100m", description="CPU request of each sidecar.")
    sidecar_memory_request: str = Field(
        default="128Mi", description="Memory request of each sidecar and ingress container."
    )
    sidecar_memory_limit: str = Field(
        default="1Gi", description="Memory limit of each sidecar and ingress container."
    )
    namespaces: tuple[str, ...] = Field(
        default=(), description="Namespaces (or glob patterns) to watch; empty: the whole cluster."
    )
    peering_name: str | None = Field(
        default=None,
        description="kopf peering object for high availability; None runs standalone.",
    )
    priority: int = Field(
        default=0, description="kopf peering priority: the highest live priority is active."
    )
    metrics_port: int = Field(
        default=8080, ge=0, le=65535, description="Port of /metrics (0 disables it)."
    )
    health_port: int = Field(
        default=8081, ge=0, le=65535, description="Port of kopf's /healthz probe (0 disables it)."
    )
    resync_seconds: float = Field(
        default=300.0, gt=0, description="Interval of the periodic drift check of every graph."
    )
    autoscale_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Interval of the autoscaler's decisions for nodes with autoscaling.",
    )
    backoff_seconds: float = Field(
        default=1.0,
        gt=0,
        description="First delay before a failed reconcile or API request is tried again.",
    )
    backoff_max_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Longest delay between two tries; the delay doubles up to it, forever.",
    )
    peering_lifetime_seconds: int = Field(
        default=15,
        ge=10,
        description="How long a silent peer counts as alive: the standby takes over after it.",
    )

    @field_validator("tracing_env")
    @classmethod
    def _only_otel_variables(cls, env: dict[str, str]) -> dict[str, str]:
        wrong = sorted(name for name in env if not name.startswith("OTEL_"))
        if wrong:
            raise ValueError(
                f"tracing.env sets {', '.join(wrong)}: only OpenTelemetry's OTEL_* variables "
                "go there (the nodes' own variables go in spec.nodes[].env)"
            )
        return env
