"""GPU requests to extended-resource limits; fractions only with a named sharing mechanism."""

from __future__ import annotations

import pytest

from braid.operator import RenderError
from braid.operator._gpus import gpu_limits
from braid.spec import GpuSharing, Resources


@pytest.mark.parametrize(
    ("resources", "limits"),
    [
        (Resources(), {}),
        (Resources(gpu=2), {"nvidia.com/gpu": "2"}),
        (Resources(gpu=1, gpu_resource_name="amd.com/gpu"), {"amd.com/gpu": "1"}),
        (Resources(gpu=0.5, gpu_sharing=GpuSharing.TIME_SLICING), {"nvidia.com/gpu.shared": "1"}),
        (Resources(gpu=0.25, gpu_sharing=GpuSharing.MPS), {"nvidia.com/gpu.shared": "1"}),
        (
            Resources(gpu=0.5, gpu_sharing=GpuSharing.MIG, mig_profile="3g.20gb"),
            {"nvidia.com/mig-3g.20gb": "1"},
        ),
    ],
)
def test_gpu_limits(resources: Resources, limits: dict[str, str]) -> None:
    assert gpu_limits(resources, "nvidia.com/gpu") == limits


def test_operator_default_resource_name() -> None:
    assert gpu_limits(Resources(gpu=1), "gpu.intel.com/i915") == {"gpu.intel.com/i915": "1"}


@pytest.mark.parametrize(
    "resources",
    [
        Resources(gpu=0.5),
        Resources(gpu=1.5),
        Resources(gpu=2, gpu_sharing=GpuSharing.MPS),
        Resources(gpu=0.5, gpu_sharing=GpuSharing.MIG),
    ],
)
def test_what_validation_rejects_is_never_rounded(resources: Resources) -> None:
    with pytest.raises(RenderError):
        gpu_limits(resources, "nvidia.com/gpu")
