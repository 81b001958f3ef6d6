"""The public names of ``braid.authoring``, pinned (as httpx pins its exports).

A change here is a change of the public API: add the name on purpose, and say so in the
CHANGELOG.
"""

from __future__ import annotations

import subprocess
import sys

import braid.authoring

AUTHORING_NAMES = [
    "AppLoadError",
    "AuthoringError",
    "BindError",
    "BoundNode",
    "BuildInvalid",
    "Call",
    "Dispatch",
    "Graph",
    "Input",
    "Method",
    "NodeOptions",
    "Origin",
    "SourceProblem",
    "Split",
    "Step",
    "Subgraph",
    "SubgraphCall",
    "Value",
    "bind",
    "dispatch",
    "graph",
    "http_node",
    "inference_node",
    "load_app",
    "node",
    "split",
    "subgraph",
]


def test_authoring_exports_exactly_the_pinned_names() -> None:
    assert braid.authoring.__all__ == AUTHORING_NAMES
    for name in AUTHORING_NAMES:
        assert getattr(braid.authoring, name).__module__.startswith("braid.authoring"), name


def test_the_errors_share_one_root() -> None:
    for error in (
        braid.authoring.BindError,
        braid.authoring.BuildInvalid,
        braid.authoring.AppLoadError,
    ):
        assert issubclass(error, braid.authoring.AuthoringError)


def test_importing_it_loads_no_grpc_kopf_or_kubernetes() -> None:
    code = (
        "import sys, braid.authoring\n"
        "heavy = [m for m in ('grpc', 'kopf', 'kubernetes', 'kubernetes_asyncio', 'braid.runtime')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
