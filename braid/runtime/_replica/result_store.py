"""The result store: step results waiting, in bounded memory, for their consumers to fetch them.

A producer's sidecar keeps a step's result under ``"<request id>/<step>"`` for as many fetches
as the flow has consumers of it, then drops it. A fetch may arrive before the result (the
ingress dispatches every step at once), so it waits on an event. Entries that nobody fetches, or
whose producer never ran, expire after ``ttl`` seconds, and the store refuses new results beyond
``max_bytes`` rather than grow without bound. An error is stored like a value, so that
consumers fail fast with the origin's error instead of receiving an error body as data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from braid.runtime._proto.braid_pb2 import Payload
from braid.runtime._wire.codec import decode, encode, payload_size
from braid.runtime._wire.errors import DeadlineExceeded, NotFound, Overloaded, RequestError
from braid.runtime._wire.shared_memory import SharedMemory, buffers_of
from braid.spec import Reference


@dataclass
class _Entry:
    expires_at: float
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    payload: Payload | None = None
    error: RequestError | None = None
    remaining: int = 0
    size: int = 0
    value: Any = None
    decoded: bool = False


def pick_payload(
    value: Any, path: Sequence[str], *, source: str, shared: SharedMemory | None = None
) -> Payload:
    """Encode the field of ``value`` at ``path`` (``$source.a.0``); NotFound names the field."""
    return encode(pick_value(value, path, source=source), shared=shared)


def pick_value(value: Any, path: Sequence[str], *, source: str) -> Any:
    """The field of ``value`` at ``path`` (``$source.a.0``); NotFound names the field."""
    if not path:
        return value
    try:
        return Reference(source=source, path=tuple(path)).pick(value)
    except LookupError as exc:
        raise NotFound(str(exc)) from exc


class ResultStore:
    """Results by key, each kept until its consumers have fetched it or it expires."""

    def __init__(
        self,
        *,
        max_bytes: int = 2 * 1024**3,
        ttl: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedMemory | None = None,
    ) -> None:
        #: Values in shared memory: the store holds a name of each segment of its own, and
        #: hands each fetch another (decision 0012).
        self._shared = shared
        self._entries: dict[str, _Entry] = {}
        self._max_bytes = max_bytes
        self._ttl = ttl
        self._clock = clock
        self._bytes = 0

    @property
    def bytes_held(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: str, payload: Payload, consumers: int, *, value: Any = None) -> None:
        """Keep ``payload`` for ``consumers`` fetches. ``value`` is its decoded form, if known."""
        size = payload_size(payload)
        if self._bytes + size > self._max_bytes:
            self.expire()
            if self._bytes + size > self._max_bytes:
                raise Overloaded(
                    f"result store full ({self._bytes} of {self._max_bytes} bytes held); "
                    "consumers are not fetching results"
                )
        entry = self._entry(key)
        entry.payload, entry.size, entry.remaining = payload, size, consumers
        entry.value, entry.decoded = value, value is not None
        self._bytes += size
        entry.ready.set()

    def put_error(self, key: str, error: RequestError, consumers: int) -> None:
        """Make every consumer of ``key`` fail with ``error``."""
        entry = self._entry(key)
        entry.error, entry.remaining = error, consumers
        entry.ready.set()

    async def fetch(self, key: str, path: Sequence[str], timeout: float | None) -> Payload:  # noqa: ASYNC109
        """Wait for ``key`` and return its payload (or the field at ``path``); counts one fetch."""
        entry = self._entry(key)
        if not entry.ready.is_set():
            try:
                await asyncio.wait_for(entry.ready.wait(), timeout)
            except TimeoutError:
                raise DeadlineExceeded(
                    f'result "{key}" was not ready before the deadline'
                ) from None
        if entry.error is not None:
            self._consume(key, entry)
            raise entry.error
        payload = entry.payload
        if payload is None:  # pragma: no cover - ready without payload or error cannot happen
            raise NotFound(f'result "{key}" is gone')
        if path:
            payload = self._pick(key, entry, payload, path)
        elif payload.shared and self._shared is not None:
            payload = self._shared.link(payload)
        self._consume(key, entry)
        return payload

    def expire(self) -> int:
        """Drop expired entries; returns how many were dropped."""
        now = self._clock()
        expired = [key for key, entry in self._entries.items() if entry.expires_at <= now]
        for key in expired:
            self._drop(key)
        return len(expired)

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(expires_at=self._clock() + self._ttl)
        return entry

    def _pick(self, key: str, entry: _Entry, payload: Payload, path: Sequence[str]) -> Payload:
        if not entry.decoded:
            buffers = buffers_of(payload, self._shared, consume=False)
            entry.value, entry.decoded = decode(payload, buffers=buffers), True
        return pick_payload(entry.value, path, source=key.rsplit("/", 1)[-1])

    def _consume(self, key: str, entry: _Entry) -> None:
        entry.remaining -= 1
        if entry.remaining <= 0:
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size
            if entry.payload is not None and self._shared is not None:
                self._shared.release_payload(entry.payload)
