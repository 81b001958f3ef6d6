"""``braid validate --check-code``: problems only the node code shows, with field paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from braid.cli import main

MANIFEST = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: code}
spec:
  nodes:
    - {name: adder, class: "shop:Adder", init: {incr: 1}}
    - {name: missing, class: "nowhere:Thing"}
    - {name: scaler, class: "shop:scale"}
  flow:
    steps:
      - {name: a, call: adder.ad, args: [$input]}
      - {name: b, call: missing.run, args: [$a]}
      - {name: c, call: scaler, args: [$b]}
    output: $c
"""

CODE = """
class Adder:
    def __init__(self, increment: int = 1) -> None:
        self.increment = increment

    def add(self, value: int) -> int:
        return value + self.increment


def scale(value: int) -> int:
    return value * 2
"""


def test_code_problems_are_listed_with_their_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shop.py").write_text(CODE)
    manifest = tmp_path / "graph.yaml"
    manifest.write_text(MANIFEST)
    assert main(["validate", "--check-code", str(manifest)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{manifest}: invalid, 3 problems:"
    assert out[1].startswith(
        "  spec.nodes[0].init: the constructor of Adder does not fit init and handles:"
    )
    assert "'incr'" in out[1]
    assert out[2].startswith('  spec.nodes[1].class: cannot import module "nowhere"')
    assert out[3] == '  spec.flow.steps[0].call: "shop:Adder" of node "adder" has no method "ad"'


def test_without_the_flag_code_is_not_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "graph.yaml"
    manifest.write_text(MANIFEST)
    assert main(["validate", str(manifest)]) == 0


APP_MANIFEST = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: code}
spec:
  nodes:
    - {name: scaler, class: "shop:scale"}
  flow:
    steps:
      - {name: c, call: scaler, args: [$input]}
    output: $c
  ingress:
    http: {app: "APP"}
"""


@pytest.mark.parametrize(("app", "problem"), [("shop_api:app", None), ("shop_apy:app", True)])
def test_the_graphs_app_module_must_be_found_but_is_not_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], app: str, problem: bool | None
) -> None:
    (tmp_path / "shop.py").write_text(CODE)
    # Importing it would fail: it binds to its graph at import, which only the ingress can do.
    (tmp_path / "shop_api.py").write_text("raise RuntimeError('imported')\n")
    manifest = tmp_path / "graph.yaml"
    manifest.write_text(APP_MANIFEST.replace("APP", app))
    code = main(["validate", "--check-code", str(manifest)])
    out = capsys.readouterr().out.splitlines()
    if problem is None:
        assert code == 0, out
        return
    assert code == 1
    assert out[1] == (
        f'  spec.ingress.http.app: cannot find module "shop_apy" (looked in {tmp_path} and the '
        "Python path)"
    )


def test_each_case_of_a_split_is_checked_against_the_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shop.py").write_text(CODE)
    manifest = tmp_path / "graph.yaml"
    manifest.write_text(
        """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {name: shop}
spec:
  nodes:
    - {name: adder, class: shop:Adder}
    - {name: scaler, class: shop:scale}
  flow:
    steps:
      - name: chosen
        split:
          cases:
            - {weight: 1, call: adder.add, args: [$input]}
            - {weight: 1, call: adder.sub, args: [$input]}
            - {weight: 1, call: scaler, args: [$input]}
    output: $chosen
"""
    )
    assert main(["validate", "--check-code", str(manifest)]) == 1
    assert capsys.readouterr().out.splitlines()[1:] == [
        '  spec.flow.steps[0].split.cases[1].call: "shop:Adder" of node "adder" has no method "sub"'
    ]
