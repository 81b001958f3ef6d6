"""The autoscaling policy: how many replicas a node wants, as a pure function of what it sees.

``braid run`` and the operator both call :func:`decide_replicas` once per control-loop tick
with the node's current replica count, the ongoing (running plus queued) requests of each of
its replicas, the requests its callers hold for it while it has no replica, and the time; it
returns the replica count to run now, a reason to log, and the state for the next tick. It
does no I/O and reads no clock, so a fake clock drives it in tests.

The policy is Ray Serve's (docs/decisions/0015-autoscaling.md):

- the error ratio is the total load over ``targetOngoingRequests`` times the current replicas;
  the wanted count is ``ceil(current * (1 + (ratio - 1) * factor))``, ``factor`` being
  ``upscalingFactor`` above the target and ``downscalingFactor`` below it, within the bounds;
- a wanted count above the current one is applied once it has been wanted for
  ``upscaleDelaySeconds`` without interruption, one below it after ``downscaleDelaySeconds``
  (``downscaleToZeroDelaySeconds`` for the last replica); a change of direction restarts the
  wait;
- a node with no replica and load (requests held by callers) gets a replica at once: the held
  requests are waiting for it;
- the count is always clamped to ``[minReplicas, maxReplicas]``, whatever the delays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from braid.spec._graphs import Autoscaling


@dataclass(frozen=True)
class ScalingState:
    """What the policy remembers between ticks: since when it wants a change, and which."""

    #: The direction wanted (+1 up, -1 down), 0 when content.
    direction: int = 0
    #: When that direction was first wanted (the caller's clock).
    since: float = 0.0


@dataclass(frozen=True)
class ScalingDecision:
    """The replica count to run now, why, and the state for the next tick."""

    replicas: int
    #: The count the load asks for now (before the delays).
    wanted: int
    reason: str
    state: ScalingState

    @property
    def changed(self) -> bool:
        """Whether the count to run differs from the current one (``reason`` says why)."""
        return self.reason != ""


def wanted_replicas(
    policy: Autoscaling, current: int, load: float, *, factor: float | None = None
) -> int:
    """The count the load asks for, before delays, within the bounds (Ray's formula)."""
    if current == 0:
        wanted = 1 if load > 0 else 0
    else:
        ratio = load / (policy.target_ongoing_requests * current)
        if factor is None:
            factor = policy.upscaling_factor if ratio >= 1 else policy.downscaling_factor
        smoothed = 1 + (ratio - 1) * factor
        wanted = math.ceil(round(current * smoothed, 9))  # 9 digits: 2.0000000001 stays 2
    return max(policy.min_replicas, min(policy.max_replicas, wanted))


def decide_replicas(
    node: str,
    policy: Autoscaling,
    *,
    current: int,
    ongoing: Sequence[float],
    held: float,
    now: float,
    state: ScalingState,
) -> ScalingDecision:
    """The replicas ``node`` should run now.

    ``ongoing`` holds each ready replica's running plus queued requests; ``held`` the requests
    its callers hold while it has no ready replica (they count as ongoing). ``current`` is the
    count the autoscaler runs (replicas still starting count: they were already decided).
    """
    load = float(sum(ongoing)) + held
    bounded = max(policy.min_replicas, min(policy.max_replicas, current))
    wanted = wanted_replicas(policy, current, load)
    if bounded != current:  # outside the bounds (the spec changed): no delay
        reason = scaling_reason(node, current, bounded, load, policy)
        return ScalingDecision(bounded, wanted, reason, ScalingState())
    if current == 0 and wanted > 0:  # requests are held: wake at once
        reason = scaling_reason(node, current, wanted, load, policy)
        return ScalingDecision(wanted, wanted, reason, ScalingState())
    direction = (wanted > current) - (wanted < current)
    if direction == 0:
        return ScalingDecision(current, wanted, "", ScalingState())
    if state.direction != direction:
        state = ScalingState(direction, now)
    if direction > 0:
        delay = policy.upscale_delay_seconds
    elif wanted == 0 and policy.downscale_to_zero_delay_seconds is not None:
        delay = policy.downscale_to_zero_delay_seconds
    else:
        delay = policy.downscale_delay_seconds
    if now - state.since < delay:
        return ScalingDecision(current, wanted, "", state)
    reason = scaling_reason(node, current, wanted, load, policy)
    return ScalingDecision(wanted, wanted, reason, ScalingState())


def scaling_reason(node: str, current: int, replicas: int, load: float, policy: Autoscaling) -> str:
    """``node preprocessor: 2 -> 5 replicas, 9.6 ongoing per replica > target 2``."""
    head = f"node {node}: {current} -> {replicas} replicas"
    if not policy.min_replicas <= current <= policy.max_replicas:
        bounds = f"minReplicas {policy.min_replicas} and maxReplicas {policy.max_replicas}"
        return f"{head}, within {bounds}"
    if current == 0:
        return f"{head}, {load:g} requests held while it had none"
    if replicas == 0:
        return f"{head}, idle"
    comparison = ">" if replicas > current else "<"
    target = f"{policy.target_ongoing_requests:g}"
    return f"{head}, {load / current:.3g} ongoing per replica {comparison} target {target}"
