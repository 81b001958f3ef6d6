"""``braid graph`` run as a real process: formats, files, README blocks, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).parents[3]
CHAIN = ROOT / "examples" / "chain" / "graph.yaml"


def braid(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "braid", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_mermaid_is_the_default_and_goes_to_stdout() -> None:
    code, out, err = braid("graph", str(CHAIN))
    assert (code, err) == (0, "")
    assert out.startswith("flowchart TB\n")
    assert 's0["sum<br/>adder.add"]' in out
    assert "s0 --> s1" in out


def test_dot_and_svg_are_written_to_a_file(tmp_path: Path) -> None:
    dot, svg = tmp_path / "g.dot", tmp_path / "g.svg"
    assert braid("graph", str(CHAIN), "--format", "dot", "-o", str(dot))[:2] == (0, "")
    assert dot.read_text().startswith('digraph "chain" {')
    assert braid("graph", str(CHAIN), "-f", "svg", "--output", str(svg))[:2] == (0, "")
    root = ElementTree.fromstring(svg.read_text())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_standard_input_is_read_with_a_dash() -> None:
    code, out, _ = braid("graph", "-", stdin=CHAIN.read_bytes())
    assert code == 0
    assert "adder.add" in out


def test_an_invalid_graph_is_drawn_with_its_problems_and_exits_1(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(CHAIN.read_text().replace("args: [$sum]", "args: [$summ]"))
    code, out, err = braid("graph", str(manifest))
    assert code == 1
    assert "classDef problem" in out
    assert "unknown step #quot;summ#quot;" in out
    assert 'braid: spec.flow.steps[1].args[0]: unknown step "summ" (did you mean "sum"?)' in err
    assert "Traceback" not in err


def test_a_file_that_is_not_a_graph_gets_one_line_and_exit_1(tmp_path: Path) -> None:
    service = tmp_path / "svc.yaml"
    service.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")
    code, out, err = braid("graph", str(service))
    assert code == 1
    assert out == ""
    assert err.startswith("braid: ") and err.count("\n") == 1
    assert "not a DeploymentGraph" in err
    code, _, err = braid("graph", str(tmp_path / "missing.yaml"))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err


def test_an_unwritable_output_gets_one_line(tmp_path: Path) -> None:
    code, _, err = braid("graph", str(CHAIN), "-o", str(tmp_path / "no" / "such" / "dir.svg"))
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err


def test_readme_writes_the_block_between_its_markers_and_keeps_the_rest(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# chain\n\n<!-- braid graph graph.yaml -->\nold\n<!-- /braid graph -->\n\nafter\n"
    )
    assert braid("graph", str(CHAIN), "--readme", str(readme))[:2] == (0, "")
    text = readme.read_text()
    assert text.startswith("# chain\n\n<!-- braid graph graph.yaml -->\n```mermaid\nflowchart TB\n")
    assert text.endswith("```\n<!-- /braid graph -->\n\nafter\n")
    assert "old" not in text
    again = braid("graph", str(CHAIN), "--readme", str(readme))
    assert again[0] == 0 and readme.read_text() == text  # idempotent


def test_readme_without_the_block_is_an_error_that_names_the_marker(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# nothing here\n")
    code, _, err = braid("graph", str(CHAIN), "--readme", str(readme))
    assert code == 1
    assert "<!-- braid graph graph.yaml -->" in err
    assert readme.read_text() == "# nothing here\n"
