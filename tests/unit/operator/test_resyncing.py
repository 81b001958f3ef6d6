"""The drift check's peering rule (kopf's): a live peer of equal or higher priority wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from braid.operator import OperatorSettings
from braid.operator._handlers import retry_delay
from braid.operator._resyncing import peering_active

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def peer(priority: int, seen_ago: float, lifetime: int = 15) -> dict[str, object]:
    seen = NOW - timedelta(seconds=seen_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


def test_alone_or_highest_is_active() -> None:
    assert peering_active({}, "me", 5, NOW)
    assert peering_active({"me": peer(5, 1), "other": peer(3, 1)}, "me", 5, NOW)


def test_a_live_higher_or_equal_peer_wins() -> None:
    assert not peering_active({"me": peer(5, 1), "other": peer(7, 1)}, "me", 5, NOW)
    assert not peering_active({"other": peer(5, 1)}, "me", 5, NOW)


def test_a_dead_peer_does_not_count() -> None:
    assert peering_active({"other": peer(9, 20, lifetime=15)}, "me", 5, NOW)


def test_an_unreadable_entry_is_ignored() -> None:
    assert peering_active({"other": {"priority": "x"}, "junk": 3}, "me", 5, NOW)


def test_retries_back_off_doubling_to_a_cap() -> None:
    settings = OperatorSettings(backoff_seconds=1.0, backoff_max_seconds=60.0)
    assert [retry_delay(n, settings) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert retry_delay(10_000, settings) == 60
