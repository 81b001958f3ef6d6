"""``braid render``: the operator's objects as a YAML stream, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from braid.cli import main
from braid.cli._main import build_parser
from braid.cli._render import settings_from_args
from braid.operator import OperatorSettings, render
from braid.spec import load_graph


def test_prints_exactly_what_the_operator_applies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "examples/chain/graph.yaml", "-n", "ml"]) == 0
    printed = list(yaml.safe_load_all(capsys.readouterr().out))
    graph = load_graph("examples/chain/graph.yaml")
    meta = graph.metadata.model_copy(update={"namespace": "ml"})
    assert printed == render(graph.model_copy(update={"metadata": meta}), OperatorSettings())


def test_settings_flags_reach_the_objects(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["render", "examples/chain/graph.yaml", "--runtime-image", "example.com/b:1"]
    assert main([*argv, "--network-policies", "--output", "json"]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    assert "NetworkPolicy" in {item["kind"] for item in items}
    sidecars = [
        c["image"]
        for item in items
        if item["kind"] == "Deployment"
        for c in item["spec"]["template"]["spec"]["containers"]
        if c["name"] == "sidecar"
    ]
    assert sidecars == ["example.com/b:1", "example.com/b:1"]
    assert items[0]["metadata"]["namespace"] == "default"


def test_namespace_mismatch_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    path = "examples/content-understanding/graph.yaml"
    assert main(["render", path, "-n", "other"]) == 1
    assert 'namespace "vision" does not match --namespace "other"' in capsys.readouterr().err


def test_invalid_manifest_lists_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load(Path("examples/chain/graph.yaml").read_text())
    document["spec"]["nodes"][0]["replicas"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(document))
    assert main(["render", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "spec.nodes[0].replicas" in captured.err


def test_render_takes_the_graph_page_setting_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRAID_GRAPH_PAGE", "false")
    args = build_parser().parse_args(["render", "examples/chain/graph.yaml"])
    assert settings_from_args(args).graph_page is False
    monkeypatch.delenv("BRAID_GRAPH_PAGE")
    args = build_parser().parse_args(["render", "examples/chain/graph.yaml"])
    assert settings_from_args(args).graph_page is True
    args = build_parser().parse_args(["render", "--no-graph-page", "examples/chain/graph.yaml"])
    assert settings_from_args(args).graph_page is False


def test_tracing_variables_reach_every_braid_container(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BRAID_TRACING_ENV", '{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}')
    assert main(["render", "examples/chain/graph.yaml", "--output", "json"]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    containers = [
        container
        for item in items
        if item["kind"] == "Deployment"
        for container in item["spec"]["template"]["spec"]["containers"]
    ]
    assert {c["name"] for c in containers} == {"model", "sidecar", "ingress"}
    for container in containers:
        env = {var["name"]: var.get("value") for var in container["env"]}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://c:4317", container["name"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "BRAID_TRACING_ENV is not JSON"),
        ('["OTEL_X"]', "must be a JSON object"),
        ('{"PATH": "/bin"}', "tracing.env sets PATH: only OpenTelemetry's OTEL_* variables"),
    ],
)
def test_bad_tracing_variables_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    monkeypatch.setenv("BRAID_TRACING_ENV", value)
    assert main(["render", "examples/chain/graph.yaml"]) == 1
    assert message in capsys.readouterr().err


def test_splits_outputs_exposed_steps_and_forwarded_headers_reach_the_compiled_graph(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The ingress and the sidecars read them from the compiled graph that braid render shows."""
    compiled = {}
    for example in ("canary", "structured-output", "request-context"):
        assert main(["render", f"examples/{example}/graph.yaml", "-n", "ml"]) == 0
        objects = list(yaml.safe_load_all(capsys.readouterr().out))
        (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
        (text,) = config["data"].values()
        compiled[example] = json.loads(text)["spec"]
    cases = compiled["canary"]["flow"]["steps"][0]["split"]["cases"]
    assert [case["weight"] for case in cases] == [90, 10]
    assert compiled["canary"]["flow"]["steps"][0]["split"]["header"] == "x-user-id"
    structured = compiled["structured-output"]["flow"]
    assert structured["output"] == {"boxes": "$detected.boxes", "label": "$label"}
    assert structured["expose"] == ["detected"]
    assert compiled["request-context"]["ingress"]["forwardHeaders"] == ["x-tenant", "x-user-*"]
