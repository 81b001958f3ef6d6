"""GPU requests to extended-resource limits: whole GPUs, shared GPUs and MIG slices.

Kubernetes schedules GPUs as extended resources that are set as limits only and never
overcommitted. A whole number ``gpu: N`` becomes ``<resource>: N``. A fraction is never rounded:
it must name how the GPU is shared (validation rejects it otherwise), and becomes one unit of the
resource the NVIDIA device plugin advertises for that kind of sharing. docs/gpus.md explains each
mapping and the device plugin configuration it needs.
"""

from __future__ import annotations

from braid.operator._errors import RenderError
from braid.spec import GpuSharing, Resources

#: MIG slices are NVIDIA's, advertised by the device plugin's "mixed" strategy.
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
#: The suffix the device plugin adds to a shared GPU resource with ``renameByDefault: true``.
SHARED_SUFFIX = ".shared"


def gpu_limits(resources: Resources, default_resource: str) -> dict[str, str]:
    """The extended-resource limits for a node's GPU request (empty when it asks for none)."""
    gpu = resources.gpu
    if gpu is None:
        return {}
    name = resources.gpu_resource_name or default_resource
    sharing = resources.gpu_sharing
    if sharing is None:
        if gpu <= 0 or gpu != int(gpu):
            raise RenderError(
                f"gpu {gpu:g} is not a whole number of GPUs and names no gpuSharing; "
                "run `braid validate` on the manifest"
            )
        return {name: str(int(gpu))}
    if not 0 < gpu < 1:
        raise RenderError(f"gpuSharing shares one GPU: a fraction below 1 is needed, got {gpu:g}")
    if sharing is GpuSharing.MIG:
        if not resources.mig_profile:
            raise RenderError('gpuSharing "mig" needs a migProfile such as "1g.5gb"')
        return {f"{MIG_RESOURCE_PREFIX}{resources.mig_profile}": "1"}
    return {f"{name}{SHARED_SUFFIX}": "1"}
