"""``braid run``'s autoscaler: reads the load from the processes, decides, starts and drains.

Every ``interval`` seconds, for each node (or co-location group) with ``autoscaling``:

1. it reads the load straight from braid's own processes, over their metrics ports (no
   Prometheus server): each ready replica's ``braid_ongoing_requests`` plus
   ``braid_queued_requests``, and the requests that callers hold for the node while it has no
   ready replica (``braid_held_requests``, from the ingress and every sidecar);
2. :func:`braid.spec.decide_replicas` (Ray Serve's policy) says how many replicas to run;
3. the launcher starts or drains replicas to match (:class:`ScalingTarget`).

A failed read of one process counts as no load from it: a replica that is starting or stopping
has none to report, and the next tick reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.parser import text_string_to_metric_families

from braid.runtime._wire.holding import HELD_METRIC
from braid.spec import Autoscaling, ScalingState, decide_replicas

logger = logging.getLogger(__name__)

#: Seconds between decisions; a read of every process's metrics each time.
DEFAULT_INTERVAL_SECONDS = 0.5
#: Longest read of one process's metrics.
_READ_TIMEOUT_SECONDS = 2.0
_ONGOING = ("braid_ongoing_requests", "braid_queued_requests")


@dataclass
class ScaledUnit:
    """One node (or co-location group) that autoscales, as the launcher runs it."""

    graph: str
    name: str
    members: tuple[str, ...]
    policy: Autoscaling
    #: Replicas running or starting (the count the autoscaler decided).
    replicas: int = 0
    #: Metrics addresses (``host:port``) of the replicas that are ready.
    ready_metrics: list[str] = field(default_factory=list)
    state: ScalingState = field(default_factory=ScalingState)
    reason: str = ""


class ScalingTarget(Protocol):
    """What the autoscaler needs from the launcher."""

    def scaled_units(self) -> Sequence[ScaledUnit]:
        """The units that autoscale, with their current replicas."""
        ...

    def metrics_addresses(self) -> Sequence[str]:
        """Every process that may hold requests (the ingress and all sidecars)."""
        ...

    async def scale(self, unit: ScaledUnit, replicas: int) -> None:
        """Start or drain replicas of ``unit`` until it runs ``replicas`` (may return early)."""
        ...


@dataclass(frozen=True)
class Load:
    """What one process reports: ongoing (running + queued) and held requests per node."""

    ongoing: dict[tuple[str, str], float]
    held: dict[tuple[str, str], float]


def parse_load(text: str) -> Load:
    """The ongoing and held requests per (graph, node) in a process's metrics text."""
    ongoing: dict[tuple[str, str], float] = {}
    held: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in _ONGOING:
            found = ongoing
        elif family.name == HELD_METRIC:
            found = held
        else:
            continue
        for sample in family.samples:
            key = (sample.labels.get("graph", ""), sample.labels.get("node", ""))
            found[key] = found.get(key, 0.0) + sample.value
    return Load(ongoing, held)


async def read_metrics(address: str) -> str:
    """``GET /metrics`` of ``host:port``: the body, or "" when it does not answer."""
    host, port = address.rsplit(":", 1)
    try:
        async with asyncio.timeout(_READ_TIMEOUT_SECONDS):
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                writer.write(
                    f"GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
                data = await reader.read()
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return ""
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        return ""
    return body.decode("utf-8", "replace")


class LocalAutoscaler:
    """The control loop of ``braid run``'s autoscaling (see the module docstring)."""

    def __init__(
        self,
        target: ScalingTarget,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        read: Callable[[str], Awaitable[str]] = read_metrics,
    ) -> None:
        self._target = target
        self._interval = interval
        self._clock = clock
        self._read = read

    async def run(self) -> None:
        """Forever: decide, act, wait one interval (cancel to stop)."""
        while True:
            try:
                await self.tick()
            except Exception:  # one bad tick must not end autoscaling
                logger.exception("autoscaling tick failed; trying again")
            await asyncio.sleep(self._interval)

    async def tick(self) -> None:
        units = self._target.scaled_units()
        if not units:
            return
        addresses = sorted(set(self._target.metrics_addresses()))
        texts = await asyncio.gather(*(self._read(a) for a in addresses))
        loads = dict(zip(addresses, (parse_load(t) for t in texts), strict=True))
        now = self._clock()
        for unit in units:
            ongoing = [
                sum(loads[a].ongoing.get((unit.graph, m), 0.0) for m in unit.members)
                for a in unit.ready_metrics
                if a in loads
            ]
            held = sum(
                load.held.get((unit.graph, m), 0.0) for load in loads.values() for m in unit.members
            )
            decision = decide_replicas(
                unit.name,
                unit.policy,
                current=unit.replicas,
                ongoing=ongoing,
                held=held,
                now=now,
                state=unit.state,
            )
            unit.state = decision.state
            if decision.changed:
                unit.reason = decision.reason
                logger.info("autoscaling: %s", decision.reason)
                await self._target.scale(unit, decision.replicas)
