"""Rendering of a graph with its own ASGI app: the ingress runs in the image with the app's code.

Checked through `braid render`, the command that prints what the operator applies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from braid.cli import main

EXAMPLE = Path("examples/fastapi-ingress/graph.yaml")


def _ingress(tmp_path: Path, capsys: pytest.CaptureFixture[str], **spec: Any) -> dict[str, Any]:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    for key, value in spec.items():
        if key == "ingress_image":
            manifest["spec"]["ingress"]["image"] = value
        elif key == "no_app":
            del manifest["spec"]["ingress"]["http"]["app"]
        else:
            manifest["spec"][key] = value
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(manifest))
    argv = ["render", str(path), "--runtime-image", "example.com/braid:1", "--output", "json"]
    assert main(argv) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    deployment = next(
        item
        for item in items
        if item["kind"] == "Deployment" and item["metadata"]["name"] == "reviews-ingress"
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_an_app_without_an_image_of_its_own_runs_in_braids_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # braid's image carries the examples (and FastAPI) on its Python path.
    container = _ingress(tmp_path, capsys)
    assert container["image"] == "example.com/braid:1"
    assert container["command"][:2] == ["braid", "ingress"]
    assert "--code-dir" not in container["command"]  # the image's Python path, as for workers


def test_an_app_runs_in_the_graphs_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    container = _ingress(tmp_path, capsys, image="example.com/shop:2")
    assert container["image"] == "example.com/shop:2"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_ingress_image_wins_over_the_graphs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    container = _ingress(
        tmp_path, capsys, image="example.com/shop:2", ingress_image="example.com/api:3"
    )
    assert container["image"] == "example.com/api:3"


def test_without_an_app_the_ingress_keeps_braids_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    container = _ingress(
        tmp_path, capsys, image="example.com/shop:2", ingress_image="example.com/api:3", no_app=1
    )
    assert container["image"] == "example.com/braid:1"


def test_changing_the_app_rolls_the_ingress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def template_of(app: str) -> dict[str, Any]:
        manifest = yaml.safe_load(EXAMPLE.read_text())
        manifest["spec"]["ingress"]["http"]["app"] = app
        path = tmp_path / "graph.yaml"
        path.write_text(yaml.safe_dump(manifest))
        assert main(["render", str(path), "--output", "json"]) == 0
        items = json.loads(capsys.readouterr().out)["items"]
        return next(
            item["spec"]["template"]
            for item in items
            if item["kind"] == "Deployment" and item["metadata"]["name"] == "reviews-ingress"
        )

    assert template_of("reviews_api:app") != template_of("reviews_api:other")
