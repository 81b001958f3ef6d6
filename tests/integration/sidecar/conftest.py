"""Fixtures for the sidecar integration tests: sidecar processes that are always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sidecar_harness import Replicas


@pytest.fixture(params=["process", "pod"])
def replicas_for(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Replicas]]:
    """Sidecars in either layout: alone, or with a worker behind a Unix socket (a pod's)."""
    started: list[Replicas] = []

    def make(manifest: str) -> Replicas:
        graph = tmp_path / "graph.yaml"
        graph.write_text(manifest)
        replicas = Replicas(graph, tmp_path, layout=str(request.param))
        started.append(replicas)
        return replicas

    yield make
    for replicas in started:
        replicas.stop()
