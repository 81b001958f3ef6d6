"""Client-side load balancing: power of two choices on in-flight requests.

For each call the router samples two ready replicas of the node at random and picks the one
with fewer requests in flight from this process (Mitzenmacher's "power of two choices"): nearly
the balance of least-loaded routing at the cost of two lookups, without a central router, and
without pinning to one pod the way a long-lived HTTP/2 connection through kube-proxy would.
A replica whose connection failed is avoided for a short cooldown, so that new requests go to
live replicas while discovery catches up.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Collection, Iterator

from braid.runtime._discovery.peers import Discovery
from braid.runtime._wire.errors import ReplicaUnavailable

#: How long a replica that refused a connection is skipped (discovery usually drops it sooner).
DOWN_COOLDOWN_SECONDS = 2.0


class Router:
    """Picks a replica of a node for each call and counts calls in flight per replica."""

    def __init__(
        self,
        discovery: Discovery,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._discovery = discovery
        self._rng = rng or random.Random()  # noqa: S311 - load balancing, not cryptography
        self._clock = clock
        self._in_flight: dict[str, int] = {}
        self._down_until: dict[str, float] = {}

    def choose(self, node: str, *, exclude: Collection[str] = ()) -> str:
        """The address of a replica of ``node``; :class:`ReplicaUnavailable` if none is ready."""
        candidates = [a for a in self._discovery.replicas(node) if a not in exclude]
        if self._down_until:
            now = self._clock()
            live = [a for a in candidates if self._down_until.get(a, 0.0) <= now]
            candidates = live or candidates  # all marked down: try anyway rather than fail
        if not candidates:
            raise ReplicaUnavailable(f'no ready replica of node "{node}"', node=node)
        if len(candidates) == 1:
            return candidates[0]
        first, second = self._rng.sample(candidates, 2)
        return first if self.in_flight(first) <= self.in_flight(second) else second

    def in_flight(self, address: str) -> int:
        return self._in_flight.get(address, 0)

    @contextlib.contextmanager
    def tracking(self, address: str) -> Iterator[None]:
        """Count one call in flight to ``address`` for the duration of the block."""
        self._in_flight[address] = self._in_flight.get(address, 0) + 1
        try:
            yield
        finally:
            remaining = self._in_flight[address] - 1
            if remaining:
                self._in_flight[address] = remaining
            else:
                del self._in_flight[address]

    def mark_down(self, address: str) -> None:
        """Avoid ``address`` for a cooldown after its connection failed."""
        self._down_until[address] = self._clock() + DOWN_COOLDOWN_SECONDS

    def mark_up(self, address: str) -> None:
        self._down_until.pop(address, None)
