"""What a node's pods need beyond braid's own settings: volumes, env sources, identity, rollout.

These are typed subsets of the Kubernetes fields of the same names (decision 0008): each model
takes the fields that model servers use and renders to the same JSON, so that a manifest reads
like a pod spec. ``affinity`` and ``topologySpreadConstraints`` pass through as they are (on the
Node model). Rules that need more than one field at a time (exactly one source, reserved names
and paths) live in :mod:`braid.spec._pod_rules`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from braid.spec._base import SpecModel
from braid.spec._types import Quantity

#: A count or a percentage of replicas, as in a Deployment's rolling update ("25%" or 1).
PERCENT_PATTERN = r"^[0-9]+%$"


def _to_int_or_percent(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError('expected a number of replicas or a percentage such as "25%"')
    if isinstance(value, int) and value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


IntOrPercent = Annotated[
    int | str,
    BeforeValidator(_to_int_or_percent),
    WithJsonSchema(
        {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    ),
]


class LocalObjectReference(SpecModel):
    """A Secret (or other object) in the graph's namespace, by name."""

    name: str = Field(min_length=1, description="Name of the object.")


class KeySelector(SpecModel):
    """One key of a Secret or ConfigMap in the graph's namespace."""

    name: str = Field(min_length=1, description="Name of the Secret or ConfigMap.")
    key: str = Field(min_length=1, description="The key to read.")
    optional: bool | None = Field(default=None, description="Whether it may be missing.")


class FieldSelector(SpecModel):
    """A field of the pod, through the downward API."""

    field_path: str = Field(min_length=1, description='e.g. "metadata.name", "status.hostIP".')


class ResourceFieldSelector(SpecModel):
    """A resource limit or request of the model container, through the downward API."""

    resource: str = Field(min_length=1, description='e.g. "limits.memory", "requests.cpu".')
    divisor: Quantity | None = Field(default=None, description='Unit of the value, e.g. "1Mi".')


class EnvVarSource(SpecModel):
    """Where an environment variable's value comes from; exactly one source."""

    secret_key_ref: KeySelector | None = Field(default=None, description="A key of a Secret.")
    config_map_key_ref: KeySelector | None = Field(
        default=None, description="A key of a ConfigMap."
    )
    field_ref: FieldSelector | None = Field(default=None, description="A field of the pod.")
    resource_field_ref: ResourceFieldSelector | None = Field(
        default=None, description="A resource of the model container."
    )


class OptionalReference(SpecModel):
    """A Secret or ConfigMap whose keys all become environment variables."""

    name: str = Field(min_length=1, description="Name of the Secret or ConfigMap.")
    optional: bool | None = Field(default=None, description="Whether it may be missing.")


class EnvFromSource(SpecModel):
    """Every key of a Secret or a ConfigMap as environment variables; exactly one source."""

    prefix: str | None = Field(default=None, description="Prepended to every variable name.")
    secret_ref: OptionalReference | None = Field(default=None, description="A Secret.")
    config_map_ref: OptionalReference | None = Field(default=None, description="A ConfigMap.")


class PersistentVolumeClaimSource(SpecModel):
    """A PersistentVolumeClaim in the graph's namespace (model weights, caches)."""

    claim_name: str = Field(min_length=1, description="Name of the claim.")
    read_only: bool | None = Field(default=None, description="Mount it read-only.")


class HostPathSource(SpecModel):
    """A directory or file of the Kubernetes node (weights pre-loaded on GPU machines)."""

    path: str = Field(pattern=r"^/", description="Absolute path on the node.")
    type: str | None = Field(
        default=None, description='e.g. "Directory", "DirectoryOrCreate" (Kubernetes hostPath).'
    )


class EmptyDirSource(SpecModel):
    """A scratch directory that lives as long as the pod; ``medium: Memory`` for /dev/shm."""

    medium: str | None = Field(
        default=None, pattern=r"^(Memory)?$", description='"Memory" for a tmpfs; empty for disk.'
    )
    size_limit: Quantity | None = Field(default=None, description='e.g. "2Gi".')


class SecretVolumeSource(SpecModel):
    """A Secret's keys as files."""

    secret_name: str = Field(min_length=1, description="Name of the Secret.")
    optional: bool | None = Field(default=None, description="Whether it may be missing.")
    default_mode: int | None = Field(
        default=None, ge=0, le=0o777, description="File mode bits (decimal, e.g. 292 for 0444)."
    )


class ConfigMapVolumeSource(SpecModel):
    """A ConfigMap's keys as files."""

    name: str = Field(min_length=1, description="Name of the ConfigMap.")
    optional: bool | None = Field(default=None, description="Whether it may be missing.")


class Volume(SpecModel):
    """A volume of the node's pods, mounted into the model container by ``volumeMounts``."""

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63, description="Name of the volume."
    )
    persistent_volume_claim: PersistentVolumeClaimSource | None = Field(
        default=None, description="A PersistentVolumeClaim."
    )
    host_path: HostPathSource | None = Field(default=None, description="A path on the node.")
    empty_dir: EmptyDirSource | None = Field(default=None, description="A scratch directory.")
    secret: SecretVolumeSource | None = Field(default=None, description="A Secret as files.")
    config_map: ConfigMapVolumeSource | None = Field(
        default=None, description="A ConfigMap as files."
    )

    def sources(self) -> list[str]:
        """The sources set, by their manifest names (exactly one is valid)."""
        dumped = self.model_dump(by_alias=True, exclude_none=True)
        return [key for key in dumped if key != "name"]


class VolumeMount(SpecModel):
    """Where the model container sees one of the node's volumes."""

    name: str = Field(description="The volume, one of the node's volumes.")
    mount_path: str = Field(pattern=r"^/", description="Absolute path in the container.")
    read_only: bool | None = Field(default=None, description="Mount it read-only.")
    sub_path: str | None = Field(default=None, description="A path inside the volume.")


class RolloutStrategy(SpecModel):
    """How many replicas a rolling update of the node may take down or add (docs/rollouts.md)."""

    max_unavailable: IntOrPercent | None = Field(
        default=None,
        description='Replicas down at a time, a count or "N%" (default 20%; 1 with GPUs).',
    )
    max_surge: IntOrPercent | None = Field(
        default=None,
        description='Extra replicas started ahead, a count or "N%" (default 25%; 0 with GPUs).',
    )
