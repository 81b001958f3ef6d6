"""Every manifest under ``examples/`` validates (new examples are picked up by the glob)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from braid.spec import load_graph

ROOT = Path(__file__).parents[2]
MANIFESTS = sorted((ROOT / "examples").glob("**/*.yaml"))


def test_the_examples_are_all_there() -> None:
    assert len(MANIFESTS) >= 8, [str(path) for path in MANIFESTS]


@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(ROOT)) for p in MANIFESTS])
def test_the_example_validates(path: Path) -> None:
    graph = load_graph(path)
    assert graph.metadata.name
    assert graph.spec.flow.steps


@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(ROOT)) for p in MANIFESTS])
def test_the_example_code_fits_its_manifest(path: Path) -> None:
    """What `braid validate --check-code` checks: imports, constructors and called methods."""
    result = subprocess.run(
        [sys.executable, "-m", "braid", "validate", "--check-code", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
