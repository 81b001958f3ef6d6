"""Peer discovery: which replicas of each node are ready, behind one small interface.

- :class:`StaticDiscovery` serves a fixed map, or a JSON peers file that ``braid run`` writes and
  rewrites as replicas come and go (``{"nodes": {"adder": ["127.0.0.1:7101", ...]}}``, and
  ``"failures": {"adder": {"message": ..., "until": <epoch seconds>}}`` while a node's replica
  could not start, so that requests held for it fail with the reason); the file
  is re-read when its modification time changes, checked at most every ``poll_interval``. The
  file may also map each replica to its metrics address (``"metrics": {"127.0.0.1:7101":
  "127.0.0.1:7102"}``), which the live graph page reads figures from.
- :mod:`braid.runtime._discovery.endpointslices` watches EndpointSlices in a cluster.

The router asks ``replicas(node)`` on every pick, so implementations keep that call cheap: a
dictionary lookup, with refreshes done in the background or rate-limited.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

logger = logging.getLogger(__name__)


@runtime_checkable
class MetricsDirectory(Protocol):
    """Where a replica serves its Prometheus metrics, for the live graph page."""

    def metrics_address(self, replica: str) -> str | None:
        """``host:port`` of the metrics of the replica at ``replica``; ``None`` if unknown."""
        ...


class Discovery(Protocol):
    """Where the ready replicas of each node are."""

    def replicas(self, node: str) -> Sequence[str]:
        """Addresses (``host:port``) of the ready replicas of ``node``; maybe empty."""
        ...

    def failure(self, node: str) -> str | None:
        """Why no replica of ``node`` could start, while callers should stop waiting for one."""
        ...

    async def start(self) -> None:
        """Begin watching (no-op for static maps)."""
        ...

    async def close(self) -> None:
        """Stop watching."""
        ...


class StaticDiscovery:
    """A fixed map of node to addresses, optionally reloaded from a peers file."""

    def __init__(
        self,
        peers: Mapping[str, Sequence[str]] | None = None,
        *,
        peers_file: Path | None = None,
        poll_interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._peers: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (peers or {}).items()}
        self._metrics: dict[str, str] = {}
        self._failures: dict[str, tuple[str, float]] = {}
        self._file = peers_file
        self._interval = poll_interval
        self._clock = clock
        self._checked = float("-inf")
        self._mtime = -1
        if peers_file is not None:
            self._reload()

    def replicas(self, node: str) -> Sequence[str]:
        if self._file is not None and self._clock() - self._checked >= self._interval:
            self._reload()
        return self._peers.get(node, ())

    def metrics_address(self, replica: str) -> str | None:
        return self._metrics.get(replica)

    def failure(self, node: str) -> str | None:
        self.replicas(node)  # refresh, rate-limited
        found = self._failures.get(node)
        if found is None or found[1] <= time.time():
            return None
        return found[0]

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _reload(self) -> None:
        path = self._file
        if path is None:
            return
        self._checked = self._clock()
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._mtime:
            return
        try:
            data = json.loads(path.read_text())
            nodes = data["nodes"]
            peers = {
                str(node): tuple(str(a) for a in addresses) for node, addresses in nodes.items()
            }
            metrics = {str(k): str(v) for k, v in data.get("metrics", {}).items()}
            self._failures = {
                str(node): (str(failure["message"]), float(failure["until"]))
                for node, failure in data.get("failures", {}).items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("peers file %s is unreadable, keeping the last peers: %s", path, exc)
            return
        self._peers, self._metrics = peers, metrics
        self._mtime = mtime
        logger.debug("peers reloaded from %s: %s", path, self._peers)


def write_peers_file(
    path: Path,
    peers: Mapping[str, Sequence[str]],
    failures: Mapping[str, tuple[str, float]] | None = None,
    metrics: Mapping[str, str] | None = None,
) -> None:
    """Atomically (re)write a peers file for :class:`StaticDiscovery`; ``failures`` maps a node
    to why its replica could not start and until when (epoch seconds) callers should say so;
    ``metrics`` maps a replica's address to its metrics address."""
    data: dict[str, object] = {"nodes": {k: list(v) for k, v in peers.items()}}
    if failures:
        data["failures"] = {k: {"message": m, "until": u} for k, (m, u) in failures.items()}
    if metrics:
        data["metrics"] = dict(metrics)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(data, indent=2))
    os.replace(temporary, path)
