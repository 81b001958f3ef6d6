"""The status of a ``DeploymentGraph``, as the operator writes it and ``kubectl get dg`` reads it.

Unknown fields are ignored when a status is read back, so that a status written by another
version of braid never fails a reconcile.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from braid.spec._base import SpecModel


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    INVALID = "Invalid"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(SpecModel):
    """A condition in the Kubernetes convention."""

    model_config = ConfigDict(extra="ignore")

    type: ConditionType = Field(
        strict=False, description="Ready, Progressing, Degraded or Invalid."
    )
    status: ConditionStatus = Field(strict=False, description="True, False or Unknown.")
    reason: str = Field(default="", description="CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable details; names the nodes.")
    last_transition_time: str | None = Field(
        default=None, description="When the status last changed (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None, description="The generation this condition was computed from."
    )


class NodeStatus(SpecModel):
    """Replica counts of one node."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="Name of the node.")
    desired_replicas: int = Field(default=0, description="Replicas wanted.")
    updated_replicas: int = Field(default=0, description="Replicas running the current spec.")
    ready_replicas: int = Field(default=0, description="Replicas ready to serve.")
    scaling_reason: str | None = Field(
        default=None, description="The autoscaler's last decision, with its reason."
    )


class Endpoint(SpecModel):
    """Where clients call the graph."""

    model_config = ConfigDict(extra="ignore")

    http: str | None = Field(default=None, description="HTTP URL of the graph's route prefix.")
    grpc: str | None = Field(default=None, description="gRPC target (host:port).")


class GraphStatus(SpecModel):
    """The observed state of a deployment graph, written by the operator."""

    model_config = ConfigDict(extra="ignore")

    observed_generation: int | None = Field(
        default=None, description="The generation the operator last reconciled."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Current conditions.")
    nodes: list[NodeStatus] = Field(default_factory=list, description="Per-node replica counts.")
    ready_nodes: str | None = Field(
        default=None, description='Ready nodes out of all, e.g. "4/5" (a printer column).'
    )
    endpoint: Endpoint | None = Field(default=None, description="Where clients call the graph.")
