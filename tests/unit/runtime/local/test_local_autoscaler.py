"""braid run's autoscaler, without processes: it parses the load each process reports, adds the
held requests of every caller, and asks the launcher for the count the policy decides."""

from __future__ import annotations

from collections.abc import Sequence

from braid.runtime._local.scaling import LocalAutoscaler, ScaledUnit, parse_load
from braid.spec import Autoscaling

TEXT = """\
# HELP braid_ongoing_requests Requests running now.
# TYPE braid_ongoing_requests gauge
braid_ongoing_requests{graph="g",node="work"} 3.0
braid_queued_requests{graph="g",node="work"} 2.0
braid_ongoing_requests{graph="other",node="work"} 7.0
braid_held_requests{graph="g",node="late"} 4.0
"""


def test_the_load_of_a_process_is_read_per_graph_and_node() -> None:
    load = parse_load(TEXT)
    assert load.ongoing[("g", "work")] == 5.0  # running plus queued
    assert load.ongoing[("other", "work")] == 7.0
    assert load.held == {("g", "late"): 4.0}


class Target:
    def __init__(self, units: list[ScaledUnit], texts: dict[str, str]) -> None:
        self.units, self.texts = units, texts
        self.scaled: list[tuple[str, int]] = []

    def scaled_units(self) -> Sequence[ScaledUnit]:
        return self.units

    def metrics_addresses(self) -> Sequence[str]:
        return list(self.texts)

    async def scale(self, unit: ScaledUnit, replicas: int) -> None:
        self.scaled.append((unit.name, replicas))
        unit.replicas = replicas

    async def read(self, address: str) -> str:
        return self.texts[address]


def policy(**fields: object) -> Autoscaling:
    return Autoscaling.model_validate({"maxReplicas": 4, "upscaleDelaySeconds": 0, **fields})


async def test_replicas_load_drives_a_scale_up() -> None:
    unit = ScaledUnit("g", "work", ("work",), policy(), replicas=1, ready_metrics=["a:1"])
    target = Target([unit], {"a:1": TEXT, "ingress:9": ""})  # an unreachable one counts 0
    await LocalAutoscaler(target, read=target.read, clock=lambda: 0.0).tick()
    assert target.scaled == [("work", 3)]  # 5 ongoing / target 2 -> 3
    assert unit.reason == "node work: 1 -> 3 replicas, 5 ongoing per replica > target 2"


async def test_requests_held_by_any_caller_wake_a_node_at_zero() -> None:
    unit = ScaledUnit("g", "late", ("late",), policy(minReplicas=0), replicas=0)
    target = Target([unit], {"ingress:9": TEXT})
    await LocalAutoscaler(target, read=target.read, clock=lambda: 0.0).tick()
    assert target.scaled == [("late", 1)]
    assert unit.reason == "node late: 0 -> 1 replicas, 4 requests held while it had none"
