"""A graph's long-lived processes import what their role needs, and no more (idle memory, issue
11): ``braid sidecar`` and ``braid worker`` load neither the ingress's HTTP server nor the
launcher nor the operator, and ``braid ingress`` no replica code unless it hosts an entry replica.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from braid.cli._main import _command_of

_PROBE = """
import contextlib, io, sys
from braid.cli._main import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main({argv!r})
heavy = ["uvicorn", "braid.runtime._local.launching", "braid.operator", "braid.runtime._replica"]
print(",".join(name for name in heavy if name in sys.modules))
"""
_ALL = {"uvicorn", "braid.runtime._local.launching", "braid.operator", "braid.runtime._replica"}


def _loaded(argv: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {name for name in done.stdout.strip().split(",") if name}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--log-level", "INFO", "sidecar", "--help"], {"braid.runtime._replica"}),
        (["worker", "--help"], {"braid.runtime._replica"}),
        (["ingress", "--help"], {"uvicorn"}),
        (["--help"], _ALL),
    ],
)
def test_each_process_imports_its_own_role(argv: list[str], expected: set[str]) -> None:
    assert _loaded(argv) == expected


def test_the_command_word_comes_after_the_global_options() -> None:
    assert _command_of(["--log-level", "INFO", "sidecar", "--node", "x"]) == "sidecar"
    assert _command_of(["--version"]) is None
    assert _command_of(["ingress"]) == "ingress"
