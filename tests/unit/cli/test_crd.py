"""``braid crd``: prints, or writes, exactly what ``render_crd()`` generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from braid.cli import main
from braid.spec import render_crd


def test_crd_prints_the_rendered_crd() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "braid", "crd"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == render_crd()
    assert yaml.safe_load(done.stdout)["kind"] == "CustomResourceDefinition"


def test_crd_writes_the_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "crd.yaml"
    assert main(["crd", "-o", str(target)]) == 0
    assert capsys.readouterr() == ("", "")
    assert target.read_text() == render_crd()


def test_crd_into_a_missing_directory_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "crd.yaml"
    assert main(["crd", "-o", str(target)]) == 1
    assert capsys.readouterr() == (
        "",
        f"braid: cannot write {target}: No such file or directory\n",
    )
