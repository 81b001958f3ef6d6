"""The ``braid`` entry point: version, help, and what happens without a command."""

from __future__ import annotations

import subprocess
import sys

import pytest

import braid
from braid.cli import main


def braid_process(*args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "braid", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_version_prints_the_package_version() -> None:
    assert braid_process("--version") == (0, f"braid {braid.__version__}\n", "")


def test_help_lists_every_command_with_its_summary() -> None:
    code, out, err = braid_process("--help")
    assert (code, err) == (0, "")
    assert out.startswith("usage: braid ")
    assert "validate" in out and "check DeploymentGraph manifests" in out
    assert "crd" in out and "print the DeploymentGraph CRD" in out
    assert "braid validate examples/*/graph.yaml" in out  # the examples in the epilog


def test_no_arguments_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: braid ")
    assert "commands:" in out


def test_an_unknown_command_is_a_usage_error() -> None:
    code, out, err = braid_process("frobnicate")
    assert code == 2
    assert out == ""
    assert "invalid choice: 'frobnicate'" in err
    assert "Traceback" not in err
