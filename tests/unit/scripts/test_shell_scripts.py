"""The shell scripts that CI runs: rules that keep them from failing by chance.

A pipeline into ``head`` (or any reader that stops early) under ``set -o pipefail`` fails whenever
the writer is still writing when the reader exits: the writer dies of SIGPIPE and the pipeline
returns 141. scripts/install-tools failed 1 CI run in 7 this way.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = sorted(
    path
    for folder in ("scripts", ".ci", "benchmarks")
    for path in (ROOT / folder).iterdir()
    if path.is_file() and path.read_text(errors="replace").startswith("#!/usr/bin/env bash")
)
EARLY_READER = re.compile(r"\|\s*(head|grep\s+-q|grep\s+-m)\b")


def test_there_are_scripts_to_check() -> None:
    assert {path.name for path in SCRIPTS} >= {"setup", "check", "install-tools", "run"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_pipeline_ends_in_an_early_reader_under_pipefail(script: Path) -> None:
    text = script.read_text()
    if "pipefail" not in text:
        return
    offenders = [
        f"{script.name}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if EARLY_READER.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []


def test_an_early_reader_under_pipefail_does_fail() -> None:
    # The rule above guards a real failure: show it happens with this machine's bash.
    result = subprocess.run(
        ["bash", "-c", "set -o pipefail; yes | head -n 1 >/dev/null"], check=False
    )
    assert result.returncode == 141
