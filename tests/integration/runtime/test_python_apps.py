"""Graphs declared in Python run directly: `braid run file.py:app` and `braid.runtime.run(app)`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_harness import EXAMPLES, braid_run, post_json

import braid.runtime
from braid.authoring import load_app


@pytest.fixture
def clean_imports() -> Iterator[None]:
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


def test_braid_run_builds_and_runs_a_python_app(tmp_path: Path) -> None:
    with braid_run([EXAMPLES / "hello" / "app.py:app"], tmp_path) as running:
        reply = post_json(running.http, "/hello", "Ada")
        assert (reply.status, reply.json()) == (200, "Hello, Ada!")


def test_run_takes_the_graph_object(clean_imports: None) -> None:
    app = load_app(str(EXAMPLES / "chain" / "app.py") + ":app")
    with braid.runtime.run(app) as running:
        written = list((EXAMPLES / "chain").glob(".braid-chain-*.yaml"))
        assert len(written) == 1  # beside the code, which braid run imports from its folder
        assert running.remote(5).result() == 12
    assert not written[0].exists()
