"""The autoscaling policy (Ray Serve's), driven by a fake clock: delays, smoothing, bounds, zero."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from braid.spec import (
    Autoscaling,
    GraphInvalid,
    ScalingDecision,
    ScalingState,
    decide_replicas,
    validate_graph,
    wanted_replicas,
)


def policy(**fields: object) -> Autoscaling:
    values: dict[str, object] = {
        "min_replicas": 1,
        "max_replicas": 10,
        "target_ongoing_requests": 2.0,
        "upscale_delay_seconds": 3.0,
        "downscale_delay_seconds": 10.0,
    }
    values.update(fields)
    return Autoscaling.model_validate(values)


@dataclass
class Loop:
    """The control loop as the launcher and the operator run it, with a fake clock."""

    policy: Autoscaling
    replicas: int
    now: float = 0.0
    state: ScalingState = field(default_factory=ScalingState)

    def tick(
        self, ongoing: list[float], held: float = 0.0, *, after: float = 1.0
    ) -> ScalingDecision:
        self.now += after
        decision = decide_replicas(
            "pre",
            self.policy,
            current=self.replicas,
            ongoing=ongoing,
            held=held,
            now=self.now,
            state=self.state,
        )
        self.state, self.replicas = decision.state, decision.replicas
        return decision


def test_the_reason_names_node_counts_load_and_target() -> None:
    loop = Loop(policy(upscale_delay_seconds=0), replicas=2)
    decision = loop.tick([10.0, 9.2])
    assert decision.replicas == 10
    assert decision.reason == "node pre: 2 -> 10 replicas, 9.6 ongoing per replica > target 2"


def test_upscale_waits_for_the_upscale_delay() -> None:
    loop = Loop(policy(), replicas=1)
    assert loop.tick([8.0], after=0.0).replicas == 1  # wanted since t=0
    assert loop.tick([8.0], after=2.0).replicas == 1  # 2 s < 3 s
    decision = loop.tick([8.0], after=1.0)  # 3 s
    assert decision.replicas == 4
    assert decision.changed


def test_a_dip_in_load_restarts_the_wait() -> None:
    loop = Loop(policy(), replicas=1)
    loop.tick([8.0], after=0.0)
    loop.tick([2.0], after=2.0)  # at target: content, the wait is forgotten
    assert loop.tick([8.0], after=2.0).replicas == 1
    assert loop.tick([8.0], after=2.0).replicas == 1
    assert loop.tick([8.0], after=1.0).replicas == 4


def test_downscale_waits_for_the_downscale_delay() -> None:
    loop = Loop(policy(), replicas=4)
    assert loop.tick([0.5, 0.5, 0.5, 0.5], after=0.0).replicas == 4
    assert loop.tick([0.5, 0.5, 0.5, 0.5], after=9.0).replicas == 4
    decision = loop.tick([0.5, 0.5, 0.5, 0.5], after=1.0)
    assert decision.replicas == 1
    assert decision.reason == "node pre: 4 -> 1 replicas, 0.5 ongoing per replica < target 2"


def test_smoothing_factors_scale_each_step() -> None:
    slow = policy(upscaling_factor=0.5, downscaling_factor=0.5)
    # ratio 4 on 2 replicas: 1 + 3 * 0.5 = 2.5, so 5 instead of 8
    assert wanted_replicas(slow, 2, 16.0) == 5
    # ratio 0.25 on 8 replicas: 1 - 0.75 * 0.5 = 0.625, so 5 instead of 2
    assert wanted_replicas(slow, 8, 4.0) == 5
    fast = policy(upscaling_factor=2.0)
    assert wanted_replicas(fast, 2, 8.0) == 6  # 1 + 1 * 2 = 3 times


def test_bounds_hold_whatever_the_load() -> None:
    bounded = policy(min_replicas=2, max_replicas=5, upscale_delay_seconds=0)
    assert wanted_replicas(bounded, 2, 1000.0) == 5
    assert wanted_replicas(bounded, 5, 0.0) == 2
    # a count outside new bounds is corrected at once, without a delay
    loop = Loop(bounded, replicas=9)
    decision = loop.tick([1.0] * 9)
    assert decision.replicas == 5
    assert "within minReplicas 2 and maxReplicas 5" in decision.reason


def test_held_requests_wake_a_node_at_zero_at_once() -> None:
    loop = Loop(policy(min_replicas=0), replicas=0)
    assert loop.tick([], held=0.0).replicas == 0
    decision = loop.tick([], held=3.0)
    assert decision.replicas == 1
    assert decision.reason == "node pre: 0 -> 1 replicas, 3 requests held while it had none"


def test_idle_node_goes_to_zero_after_the_zero_delay() -> None:
    loop = Loop(policy(min_replicas=0, downscale_to_zero_delay_seconds=4.0), replicas=1)
    assert loop.tick([0.0], after=0.0).replicas == 1
    assert loop.tick([0.0], after=3.0).replicas == 1
    decision = loop.tick([0.0], after=1.0)
    assert decision.replicas == 0
    assert decision.reason == "node pre: 1 -> 0 replicas, idle"


def test_without_a_zero_delay_the_downscale_delay_applies() -> None:
    loop = Loop(policy(min_replicas=0), replicas=1)
    loop.tick([0.0], after=0.0)
    assert loop.tick([0.0], after=9.0).replicas == 1
    assert loop.tick([0.0], after=1.0).replicas == 0


def test_min_replicas_one_never_goes_to_zero() -> None:
    loop = Loop(policy(downscale_delay_seconds=0), replicas=1)
    assert loop.tick([0.0]).replicas == 1
    assert not loop.tick([0.0]).changed


def test_load_at_target_is_content() -> None:
    loop = Loop(policy(upscale_delay_seconds=0, downscale_delay_seconds=0), replicas=3)
    decision = loop.tick([2.0, 2.0, 2.0])
    assert decision.replicas == 3
    assert decision.state == ScalingState()


def test_an_hpa_cannot_scale_to_zero_and_says_where() -> None:
    document = {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": [
                {
                    "name": "n",
                    "class": "m:C",
                    "autoscaling": {"mode": "hpa", "minReplicas": 0, "maxReplicas": 2},
                }
            ],
            "flow": {
                "input": "x",
                "steps": [{"name": "s", "call": "n.f", "args": ["$x"]}],
                "output": "$s",
            },
        },
    }
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(document)
    paths = [problem.path for problem in caught.value.problems]
    assert paths == ["spec.nodes[0].autoscaling.minReplicas"]
    document["spec"]["nodes"][0]["autoscaling"]["mode"] = "builtin"  # type: ignore[index]
    assert validate_graph(document).spec.nodes[0].autoscaling is not None


def test_unknown_autoscaling_fields_and_bad_values_name_their_path() -> None:
    document = {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "g"},
        "spec": {
            "nodes": [
                {
                    "name": "n",
                    "class": "m:C",
                    "autoscaling": {"maxReplicas": 2, "upscaleDelaySeconds": -1, "mode": "keda"},
                }
            ],
            "flow": {
                "input": "x",
                "steps": [{"name": "s", "call": "n.f", "args": ["$x"]}],
                "output": "$s",
            },
        },
    }
    with pytest.raises(GraphInvalid) as caught:
        validate_graph(document)
    paths = sorted(problem.path for problem in caught.value.problems)
    assert paths == [
        "spec.nodes[0].autoscaling.mode",
        "spec.nodes[0].autoscaling.upscaleDelaySeconds",
    ]
