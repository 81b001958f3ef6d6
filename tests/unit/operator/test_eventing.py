"""Events are braid's (From: braid), and one that cannot be posted is dropped quietly."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from braid.operator import ApiEvents, KubernetesError, Transition
from braid.operator._eventing import event_object
from braid.spec import ConditionStatus, ConditionType

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
GRAPH = {"metadata": {"name": "chain", "namespace": "shop", "uid": "u-1"}}
READY = Transition(ConditionType.READY, ConditionStatus.FALSE, "NodesNotReady", "adder", True)


class Refusing:
    def __init__(self, status: int) -> None:
        self.status = status

    async def create(self, resource: Any, namespace: str, obj: Any) -> None:
        raise KubernetesError(f"POST events failed: HTTP {self.status}", self.status)


def test_the_event_names_braid_and_the_graph() -> None:
    event = event_object(GRAPH, READY, NOW, "op-1")
    assert event["source"] == {"component": "braid"}
    assert event["reportingComponent"] == "braid"
    assert event["involvedObject"]["name"] == "chain"
    assert event["type"] == "Warning"
    assert event["message"] == "Ready is False: adder"


@pytest.mark.parametrize(("status", "level"), [(403, logging.DEBUG), (500, logging.WARNING)])
async def test_an_event_that_cannot_be_posted_is_dropped(
    status: int, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="braid.operator._eventing")
    await ApiEvents(Refusing(status), lambda: NOW).record(GRAPH, READY)  # type: ignore[arg-type]
    assert [r.levelno for r in caplog.records] == [level]
    assert all(r.levelno < logging.ERROR for r in caplog.records)
