"""The autoscaling benchmark gives both systems the same policy, each in its own field names."""

from __future__ import annotations

from benchmarks._scaling import Policy
from braid.spec import Autoscaling


def test_both_systems_get_the_same_policy() -> None:
    policy = Policy(target=4.0, max_replicas=6, upscale_delay_s=2.0, downscale_delay_s=9.0)
    braid = Autoscaling.model_validate(policy.braid(0))
    ray = policy.ray(0)
    assert (braid.min_replicas, ray["min_replicas"]) == (0, 0)
    assert (braid.max_replicas, ray["max_replicas"]) == (6, 6)
    assert braid.target_ongoing_requests == ray["target_ongoing_requests"] == 4.0
    assert braid.upscale_delay_seconds == ray["upscale_delay_s"] == 2.0
    assert braid.downscale_delay_seconds == ray["downscale_delay_s"] == 9.0
    assert braid.downscale_to_zero_delay_seconds == ray["downscale_to_zero_delay_s"]
