"""Client-side load balancing: power of two choices on in-flight requests.

For each call the router samples two ready replicas of the node at random and picks the one
with fewer requests in flight from this process (Mitzenmacher's "power of two choices"): nearly
the balance of least-loaded routing at the cost of two lookups, without a central router, and
without pinning to one pod the way a long-lived HTTP/2 connection through kube-proxy would.
A replica whose connection failed is avoided for a short cooldown, so that new requests go to
live replicas while discovery catches up. When a node has no ready replica at all (every one of
them restarting), :meth:`Router.wait_choose` waits for one to come back, for at most
:data:`REPLICA_WAIT_SECONDS` and never past the request's deadline, as Ray Serve's handles and
Knative's activator hold requests: a brief outage delays requests instead of failing them.
A node that scales to zero (:class:`Buffer` ``wait_seconds=None``) holds them until the
request's deadline instead, while the autoscaler starts a replica; the requests held for a node
are bounded (:class:`Buffer` ``limit``; beyond it 503 at once) and counted (:meth:`Router.held`),
which is the autoscaler's signal that a node with no replica has demand. A node whose replica
failed to start (:meth:`Discovery.failure`) fails its held requests with that reason.

Model multiplexing: a call for a model id goes to a replica that holds that model when one is
ready (the two choices are made among those), and to the usual choice over all replicas
otherwise. The router learns which replica holds which models from their replies
(:meth:`Router.note_models`); docs/decisions/0014-batching-and-multiplexing.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from braid.runtime._discovery.peers import Discovery
from braid.runtime._wire.errors import ReplicaUnavailable

#: How long a replica that refused a connection is skipped (discovery usually drops it sooner).
DOWN_COOLDOWN_SECONDS = 2.0
#: Longest wait for a node with no ready replica to get one: a crashed replica's restart under
#: ``braid run`` (its backoff is capped at 10 s) or a replaced pod's readiness.
REPLICA_WAIT_SECONDS = 10.0
#: Requests held per node while it has no ready replica, unless the graph says otherwise.
DEFAULT_BUFFER_LIMIT = 256
#: How often a waiting request looks again (discovery itself refreshes every 0.2 s or on events).
_WAIT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Buffer:
    """How a caller holds requests for a node with no ready replica."""

    #: Requests held at once; more fail at once with 503 and Retry-After.
    limit: int = DEFAULT_BUFFER_LIMIT
    #: Longest hold (never past the request's deadline); None: until the deadline (scale to
    #: zero: a replica is starting).
    wait_seconds: float | None = REPLICA_WAIT_SECONDS


class Router:
    """Picks a replica of a node for each call and counts calls in flight per replica."""

    def __init__(
        self,
        discovery: Discovery,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        buffers: Mapping[str, Buffer] | None = None,
    ) -> None:
        self._discovery = discovery
        self._rng = rng or random.Random()  # noqa: S311 - load balancing, not cryptography
        self._clock = clock
        self._in_flight: dict[str, int] = {}
        self._down_until: dict[str, float] = {}
        self._buffers = dict(buffers or {})
        self._held: dict[str, int] = {}
        #: The model ids each replica last said it holds (multiplexed nodes only).
        self._models: dict[str, frozenset[str]] = {}

    def choose(self, node: str, *, exclude: Collection[str] = (), model_id: str = "") -> str:
        """The address of a replica of ``node``; :class:`ReplicaUnavailable` if none is ready."""
        candidates = [a for a in self._discovery.replicas(node) if a not in exclude]
        candidates = self._live(candidates) or candidates  # all marked down: try anyway
        if not candidates:
            raise ReplicaUnavailable(f'no ready replica of node "{node}"', node=node)
        return self._pick(candidates, model_id)

    def note_models(self, address: str, models: Collection[str]) -> None:
        """``address`` holds these models now (from its reply)."""
        self._models[address] = frozenset(models)

    def holders(self, model_id: str) -> list[str]:
        """The replicas known to hold ``model_id``."""
        return sorted(a for a, models in self._models.items() if model_id in models)

    async def wait_choose(
        self,
        node: str,
        *,
        deadline: float | None,
        exclude: Collection[str] = (),
        model_id: str = "",
    ) -> str:
        """Like :meth:`choose`, but when ``node`` has no ready replica (or only ones in
        ``exclude`` or marked down), hold the request for one: at most the node's
        :class:`Buffer` wait, and not past ``deadline`` on this router's clock. Then
        :meth:`choose` decides."""
        candidates = self._live([a for a in self._discovery.replicas(node) if a not in exclude])
        if candidates:
            return self._pick(candidates, model_id)
        buffer = self._buffers.get(node, Buffer())
        if self._held.get(node, 0) >= buffer.limit:
            raise ReplicaUnavailable(
                f'node "{node}" has no ready replica and {buffer.limit} requests are already '
                "held for it; retry shortly",
                node=node,
            )
        began = self._clock()
        until = began + buffer.wait_seconds if buffer.wait_seconds is not None else float("inf")
        if deadline is not None:
            until = min(until, deadline)
        self._held[node] = self._held.get(node, 0) + 1
        try:
            while True:
                failure = self._discovery.failure(node)
                if failure is not None:
                    raise ReplicaUnavailable(failure, node=node)
                live = self._live([a for a in self._discovery.replicas(node) if a not in exclude])
                if live:
                    return self._pick(live, model_id)
                if self._clock() >= until:
                    break
                await asyncio.sleep(max(min(_WAIT_POLL_SECONDS, until - self._clock()), 0.0))
        finally:
            self._held[node] -= 1
        try:
            return self.choose(node, model_id=model_id)
        except ReplicaUnavailable as exc:
            exc.message = f"{exc.message} (waited {self._clock() - began:.1f} s for one)"
            exc.args = (exc.message,)
            raise

    def held(self) -> dict[str, int]:
        """Requests held per node right now, waiting for a ready replica."""
        return {node: count for node, count in self._held.items() if count}

    def _live(self, candidates: list[str]) -> list[str]:
        """The candidates not marked down."""
        if not self._down_until:
            return candidates
        now = self._clock()
        return [a for a in candidates if self._down_until.get(a, 0.0) <= now]

    def _pick(self, candidates: list[str], model_id: str = "") -> str:
        if model_id:
            holding = [a for a in candidates if model_id in self._models.get(a, ())]
            candidates = holding or candidates
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
