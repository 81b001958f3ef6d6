"""Sub-graph steps in the manifest, and cycles across graphs checked when graphs come together
(the spec rule, `braid validate a.yaml b.yaml` and `braid run`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from braid.spec import (
    DeploymentGraph,
    check_graph_set,
    parse_manifest_text,
    step_dependencies,
    subgraphs_of,
    validate_graph,
)

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "examples" / "subgraphs"


def manifest(name: str, *calls: str) -> dict[str, Any]:
    """A graph whose one node feeds a step per called graph, then a join."""
    steps: list[dict[str, Any]] = [{"name": "first", "call": "worker", "args": ["$input"]}]
    steps += [{"name": f"to-{g}", "graph": g, "args": ["$first"]} for g in calls]
    steps.append(
        {"name": "last", "call": "worker", "args": ["$first", *[f"$to-{g}" for g in calls]]}
    )
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": name},
        "spec": {
            "nodes": [{"name": "worker", "class": "m:f"}],
            "flow": {"steps": steps, "output": "$last"},
            "ingress": {"http": {"routePrefix": f"/{name}"}},
        },
    }


def graphs(*manifests: dict[str, Any]) -> list[DeploymentGraph]:
    return [validate_graph(parse_manifest_text(yaml.safe_dump(m))) for m in manifests]


def test_a_subgraph_step_parses_and_its_arguments_are_dependencies() -> None:
    (graph,) = graphs(manifest("a", "b"))
    step = graph.spec.flow.steps[1]
    assert step.graph == "b" and step.calls() == []
    assert step_dependencies(step) == {"first"}
    assert subgraphs_of(graph) == {"b": 1}


def test_graphs_that_call_each_other_in_a_cycle_are_reported_once_naming_the_cycle() -> None:
    found = check_graph_set(graphs(manifest("a", "b"), manifest("b", "c"), manifest("c", "a")))
    assert [(p.index, p.problem.path, p.problem.message) for p in found] == [
        (
            0,
            "spec.flow.steps[1].graph",
            "the graphs call each other in a cycle: a -> b -> c -> a (a request would never end)",
        )
    ]


def test_a_chain_of_graphs_and_unknown_graphs_are_no_cycle() -> None:
    assert check_graph_set(graphs(manifest("a", "b", "x"), manifest("b", "c"))) == []
    # A graph calling itself is reported by its own rules; the set rule leaves it alone.
    assert check_graph_set([DeploymentGraph.model_validate(manifest("a", "a"))]) == []


def test_two_separate_cycles_are_two_problems() -> None:
    found = check_graph_set(
        graphs(manifest("a", "b"), manifest("b", "a"), manifest("c", "d"), manifest("d", "c"))
    )
    assert [(p.index, p.problem.message.split(": ")[1]) for p in found] == [
        (0, "a -> b -> a (a request would never end)"),
        (2, "c -> d -> c (a request would never end)"),
    ]


def braid(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "braid", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_validate_checks_the_files_together(tmp_path: Path) -> None:
    for name, calls in (("a", "b"), ("b", "a")):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(manifest(name, calls)))
    code, output = braid("validate", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))
    assert code == 1
    assert f"{tmp_path / 'a.yaml'}: invalid, 1 problem:" in output
    assert "spec.flow.steps[1].graph: the graphs call each other in a cycle: a -> b -> a" in output
    assert f"{tmp_path / 'b.yaml'}: valid" in output
    code, output = braid("validate", str(tmp_path / "a.yaml"))  # alone: b is unknown, no cycle
    assert code == 0, output


def test_run_refuses_graphs_in_a_cycle_before_starting_anything(tmp_path: Path) -> None:
    for name, calls in (("a", "b"), ("b", "a")):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(manifest(name, calls)))
    code, output = braid("run", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))
    assert code == 1
    assert "the graphs call each other in a cycle: a -> b -> a" in output
    assert "Traceback" not in output


def test_the_example_pair_is_valid_together() -> None:
    code, output = braid(
        "validate", str(EXAMPLE / "graph.yaml"), str(EXAMPLE / "graph-scoring.yaml")
    )
    assert code == 0, output
