"""Every example is declared in Python too: `braid build` of its app.py equals its manifest.

Equal means equal as validated graphs, with nodes and steps keyed by name: they are lists of
named objects, so their order carries no meaning (decision 0001). Each build runs the real
command in a process of its own, as a user would, from the example's folder.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from braid.spec import DeploymentGraph, load_graph, parse_manifest_text, validate_graph

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"

#: (example folder, app reference, the manifest it equals)
BUILDS = [
    ("batching", "app.py:app", "graph.yaml"),
    ("multiplexing", "app.py:app", "graph.yaml"),
    ("hello", "app.py:app", "graph.yaml"),
    ("chain", "app.py:app", "graph.yaml"),
    ("dispatch", "app.py:app", "graph.yaml"),
    ("dispatch", "app.py:declarative", "graph-declarative.yaml"),
    ("ensemble", "app.py:app", "graph.yaml"),
    ("pass-by-reference", "app.py:app", "graph.yaml"),
    ("streaming", "app.py:app", "graph.yaml"),
    ("http-model-server", "app.py:app", "graph.yaml"),
    ("content-understanding", "app.py:app", "graph.yaml"),
    ("iris", "app.py:app", "graph.yaml"),
    ("fused-chain", "app.py:app", "graph.yaml"),
    ("model-weights", "app.py:app", "graph.yaml"),
    ("inference-chain", "app.py:app", "graph.yaml"),
    ("autoscaling", "app.py:app", "graph.yaml"),
    ("fastapi-ingress", "app.py:app", "graph.yaml"),
    ("subgraphs", "app.py:app", "graph.yaml"),
    ("subgraphs", "app.py:scoring", "graph-scoring.yaml"),
    ("soft-steps", "app.py:app", "graph.yaml"),
    ("quorum", "app.py:app", "graph.yaml"),
    ("canary", "app.py:app", "graph.yaml"),
    ("structured-output", "app.py:app", "graph.yaml"),
    ("request-context", "app.py:app", "graph.yaml"),
]

#: Manifests without a Python twin, and why.
WITHOUT_TWIN: dict[Path, str] = {}


def keyed(graph: DeploymentGraph) -> dict[str, Any]:
    data = graph.model_dump(by_alias=True, mode="json")
    data["spec"]["nodes"] = {node["name"]: node for node in data["spec"]["nodes"]}
    data["spec"]["flow"]["steps"] = {step["name"]: step for step in data["spec"]["flow"]["steps"]}
    return data


def test_every_manifest_has_a_python_twin() -> None:
    manifests = {path.relative_to(EXAMPLES) for path in EXAMPLES.glob("*/*.yaml")}
    twins = {Path(folder) / manifest for folder, _, manifest in BUILDS}
    assert manifests == twins | set(WITHOUT_TWIN)


@pytest.mark.parametrize(
    ("folder", "app", "manifest"), BUILDS, ids=[f"{f}/{a}" for f, a, _ in BUILDS]
)
def test_braid_build_equals_the_manifest(folder: str, app: str, manifest: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "braid", "build", app],
        cwd=EXAMPLES / folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    built = validate_graph(parse_manifest_text(result.stdout))
    assert keyed(built) == keyed(load_graph(EXAMPLES / folder / manifest))


def test_build_writes_a_file_and_reports_problems_at_source_lines(tmp_path: Path) -> None:
    output = tmp_path / "chain.yaml"
    app = str(EXAMPLES / "chain" / "app.py")
    done = subprocess.run(
        [sys.executable, "-m", "braid", "build", f"{app}:app", "-o", str(output)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert load_graph(output) == load_graph(EXAMPLES / "chain" / "graph.yaml")
    (tmp_path / "nodes.py").write_text("class Echo:\n    def echo(self, v):\n        return v\n")
    (tmp_path / "bad.py").write_text(
        "from braid.authoring import Input, bind, graph\n"
        "from nodes import Echo\n"
        "echo = bind(Echo).options(replicas=-2, max_ongoing_requests=0)\n"
        "app = graph(echo.echo.bind(Input()), name='bad')\n"
    )
    failed = subprocess.run(
        [sys.executable, "-m", "braid", "build", "bad:app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    lines = failed.stderr.splitlines()
    assert lines[0] == 'braid: bad:app: graph "bad" is invalid, 2 problems:'
    assert lines[1].startswith('  bad.py:3: node "echo" (spec.nodes[0].replicas): ')
    assert lines[2].startswith('  bad.py:3: node "echo" (spec.nodes[0].maxOngoingRequests): ')
    assert "Traceback" not in failed.stderr
