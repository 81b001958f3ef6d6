"""Fixtures for the sidecar integration tests: sidecar processes that are always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sidecar_harness import Replicas


@pytest.fixture
def replicas_for(tmp_path: Path) -> Iterator[Callable[[str], Replicas]]:
    started: list[Replicas] = []

    def make(manifest: str) -> Replicas:
        graph = tmp_path / "graph.yaml"
        graph.write_text(manifest)
        replicas = Replicas(graph, tmp_path)
        started.append(replicas)
        return replicas

    yield make
    for replicas in started:
        replicas.stop()
