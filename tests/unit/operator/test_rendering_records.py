"""What render() records and refuses: the chosen model code, and graphs too big for a ConfigMap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_rendering import SETTINGS, by_key, chain, container

from braid.cli._validate import check_file
from braid.operator import CONFIG_MAP_LIMIT_BYTES, RenderError, live_node, render, size_problems
from braid.spec import DeploymentGraph, validate_graph


def versioned() -> DeploymentGraph:
    return chain(version="1", image="registry.example.com/adder:1")


def adder(graph: DeploymentGraph, live: Any = None) -> dict[str, Any]:
    return by_key(render(graph, SETTINGS, live))["Deployment", "chain-adder"]


def test_the_deployment_records_the_code_braid_chose() -> None:
    deployment = adder(versioned())
    recorded = json.loads(deployment["metadata"]["annotations"]["braid.dev/model-code"])
    assert recorded["image"] == "registry.example.com/adder:1"
    assert recorded["command"] == container(deployment, "model")["command"]


def test_a_hand_edit_never_becomes_the_pinned_code() -> None:
    deployment = adder(versioned())
    container(deployment, "model")["image"] = "evil.example.com/adder:x"
    live = {"adder": live_node(deployment)}
    again = adder(versioned(), live)
    assert container(again, "model")["image"] == "registry.example.com/adder:1"


def test_without_a_record_the_running_container_is_the_pinned_code() -> None:
    """Deployments written by an earlier braid carry no record: their container is the code."""
    deployment = adder(versioned())
    del deployment["metadata"]["annotations"]["braid.dev/model-code"]
    container(deployment, "model")["image"] = "registry.example.com/adder:0"
    again = adder(
        chain(version="1", image="registry.example.com/adder:2"), {"adder": live_node(deployment)}
    )
    assert container(again, "model")["image"] == "registry.example.com/adder:0"


def big_graph() -> DeploymentGraph:
    return chain(init={"table": "x" * (CONFIG_MAP_LIMIT_BYTES + 1)})


def test_a_compiled_graph_over_a_mebibyte_is_a_problem_naming_size_and_limit() -> None:
    problems = size_problems(big_graph())
    assert len(problems) == 1
    assert problems[0].path == "spec"
    assert str(CONFIG_MAP_LIMIT_BYTES) in problems[0].message
    assert "bytes" in problems[0].message
    assert size_problems(chain()) == []
    with pytest.raises(RenderError, match=str(CONFIG_MAP_LIMIT_BYTES)):
        render(big_graph(), SETTINGS)


def test_braid_validate_refuses_a_graph_too_big_for_its_config_map(tmp_path: Path) -> None:
    document = big_graph().model_dump(mode="json", by_alias=True, exclude_none=True)
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(document))
    outcome = check_file(str(path))
    assert not outcome.valid
    assert str(CONFIG_MAP_LIMIT_BYTES) in outcome.problems[0].message
    assert validate_graph(document)  # the spec itself is fine: only its size is not
