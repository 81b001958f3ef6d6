"""``validate --check-code`` checks each file's code in isolation, turns exits at import into
problems, and rejects a userConfig that nothing can receive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from braid.cli import main


def manifest(node: str, *, extra: str = "") -> str:
    return f"""
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {{name: iso}}
spec:
  nodes:
    - {{name: n, class: "{node}"{extra}}}
  flow:
    steps:
      - {{name: a, call: n.run, args: [$input]}}
    output: $a
"""


def project(root: Path, name: str, code: str, text: str) -> str:
    folder = root / name
    folder.mkdir()
    (folder / "nodes.py").write_text(code)
    (folder / "graph.yaml").write_text(text)
    return str(folder / "graph.yaml")


GOOD = "class Node:\n    def run(self, value):\n        return value\n"
BAD = "class Node:\n    def other(self, value):\n        return value\n"


def outcomes(capsys: pytest.CaptureFixture[str], *files: str) -> dict[str, bool]:
    code = main(["validate", "--check-code", "--output", "json", *files])
    found = {entry["file"]: entry["valid"] for entry in json.loads(capsys.readouterr().out)}
    assert code == (0 if all(found.values()) else 1)
    return found


@pytest.mark.parametrize("good_first", [True, False])
def test_two_files_with_a_module_of_the_same_name_are_checked_each_on_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good_first: bool
) -> None:
    good = project(tmp_path, "good", GOOD, manifest("nodes:Node"))
    bad = project(tmp_path, "bad", BAD, manifest("nodes:Node"))
    files = [good, bad] if good_first else [bad, good]
    assert outcomes(capsys, *files) == {good: True, bad: False}


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("import sys\nsys.exit(3)\n", "raised SystemExit: 3"),
        ("raise KeyboardInterrupt\n", "raised KeyboardInterrupt"),
        ("raise SystemExit\n", "raised SystemExit"),
    ],
)
def test_a_module_that_exits_on_import_is_a_problem_not_an_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str, shown: str
) -> None:
    path = project(tmp_path, "exits", code, manifest("nodes:Node"))
    assert main(["validate", "--check-code", path]) == 1
    out = capsys.readouterr().out
    assert "spec.nodes[0].class" in out
    assert shown in out


@pytest.mark.parametrize("node", ["nodes:Node", "nodes:run"])
def test_a_user_config_without_reconfigure_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], node: str
) -> None:
    code = GOOD + "\ndef run(value):\n    return value\n"
    path = project(tmp_path, "config", code, manifest(node, extra=", userConfig: {k: 1}"))
    assert main(["validate", "--check-code", path]) == 1
    out = capsys.readouterr().out
    assert "spec.nodes[0].userConfig" in out
    assert "no reconfigure() method" in out


def test_a_function_given_init_is_reported_as_such_not_as_a_missing_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = "def run(value):\n    return value\n"
    path = project(tmp_path, "function", code, manifest("nodes:run", extra=", init: {k: 1}"))
    assert main(["validate", "--check-code", path]) == 1
    out = capsys.readouterr().out
    assert "is a function; it takes no init or handles" in out
    assert "has no method" not in out
