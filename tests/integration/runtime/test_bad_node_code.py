"""Bad node code under ``braid run``: one line per failed replica that names the user's
exception and message, plus the user's own frames; nothing of braid's, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MANIFEST = """
apiVersion: braid.dev/v1alpha1
kind: DeploymentGraph
metadata: {{name: bad}}
spec:
  nodes:
    - {{name: n, class: "{target}"{extra}}}
  flow:
    steps:
      - {{name: a, call: {call}, args: [$input]}}
    output: $a
"""

GOOD_CLASS = "class Node:\n    def run(self, value):\n        return value\n"

# name: (code, class, extra manifest fields, step call, words the failure line must hold)
CASES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "missing module": ("", "elsewhere:Node", "", "n.run", ('cannot import module "elsewhere"',)),
    "syntax error": ("def broken(:\n", "nodes:Node", "", "n.run", ("SyntaxError", "nodes.py")),
    "import raises": (
        "raise RuntimeError('no GPU here')\n",
        "nodes:Node",
        "",
        "n.run",
        ("RuntimeError: no GPU here", "nodes.py"),
    ),
    "constructor raises": (
        "class Node:\n    def __init__(self):\n        raise ValueError('no weights')\n",
        "nodes:Node",
        "",
        "n.run",
        ("ValueError: no weights", "in __init__"),
    ),
    "bad init keyword": (GOOD_CLASS, "nodes:Node", ", init: {size: 3}", "n.run", ("size",)),
    "reconfigure raises": (
        GOOD_CLASS + "    def reconfigure(self, config):\n        raise KeyError(config)\n",
        "nodes:Node",
        ", userConfig: {k: 1}",
        "n.run",
        ("reconfigure", "KeyError"),
    ),
    "userConfig without reconfigure": (
        GOOD_CLASS,
        "nodes:Node",
        ", userConfig: {k: 1}",
        "n.run",
        ("no reconfigure() method",),
    ),
    "sys.exit at import": ("import sys\nsys.exit(4)\n", "nodes:Node", "", "n.run", ("SystemExit",)),
    "KeyboardInterrupt at import": (
        "raise KeyboardInterrupt\n",
        "nodes:Node",
        "",
        "n.run",
        ("KeyboardInterrupt",),
    ),
    "attribute not callable": ("Node = 5\n", "nodes:Node", "", "n", ("neither a class nor",)),
    "function given init": (
        "def run(value):\n    return value\n",
        "nodes:run",
        ", init: {k: 1}",
        "n",
        ("is a function; it takes no init",),
    ),
    "class missing": (GOOD_CLASS, "nodes:Missing", "", "n.run", ('no attribute "Missing"',)),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_node_code_is_one_clean_line(case: str, tmp_path: Path) -> None:
    code, target, extra, call, words = CASES[case]
    (tmp_path / "nodes.py").write_text(code)
    graph = tmp_path / "graph.yaml"
    graph.write_text(MANIFEST.format(target=target, extra=extra, call=call))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "braid",
            "--log-level",
            "WARNING",
            "run",
            str(graph),
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "Exception ignored" not in output
    assert "/braid/" not in output.replace(str(tmp_path), "")
    failures = [line for line in output.splitlines() if line.startswith('braid: node "n"')]
    assert len(failures) == 1, output
    assert all(word in output for word in words), output
    assert "exited with code 1 while starting" in output
