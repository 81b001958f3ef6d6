"""``braid build`` and ``braid run MODULE:APP`` on apps that do not build: one message, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from braid.cli import main
from braid.cli._build import is_app_reference


def test_app_references_and_manifest_paths_are_told_apart(tmp_path: Path) -> None:
    manifest = tmp_path / "graph.yaml"
    manifest.write_text("")
    assert is_app_reference("app:app")
    assert is_app_reference("examples/chain/app.py:app")
    assert not is_app_reference(str(manifest))
    assert not is_app_reference("graph.yaml")
    assert not is_app_reference("app.py:")


@pytest.mark.parametrize("command", ["build", "run"])
def test_an_app_that_cannot_load_is_one_line(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main([command, "nowhere_to_be_found:app"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == [
        f'braid: "nowhere_to_be_found:app": cannot import module "nowhere_to_be_found" from '
        f"{tmp_path.resolve()}"
    ]


def test_build_cannot_write_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = Path(__file__).parents[3] / "examples" / "hello" / "app.py"
    assert main(["build", f"{app}:app", "-o", str(tmp_path / "missing" / "x.yaml")]) == 1
    assert "cannot write" in capsys.readouterr().err
