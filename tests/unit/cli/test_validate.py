"""``braid validate`` run as a real process: exit codes, one-line errors, text and JSON output.

Every bad file must give exit 1 and exactly one line that names the file and the reason, and
never a traceback, whatever the bytes are.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from braid.cli import main
from braid.cli._validate import check_file

ROOT = Path(__file__).parents[3]
HELLO = ROOT / "examples" / "hello" / "graph.yaml"
CORPUS = ROOT / "tests" / "corpus" / "invalid"


def braid(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``python -m braid``; return the exit code and stdout followed by stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "braid", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )
    output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    return done.returncode, output


def _big(path: Path) -> None:
    # 50 MB: a single valid YAML scalar, so that only the size can be the problem.
    with path.open("wb") as handle:
        handle.write(b"data: ")
        chunk = b"x" * (1024 * 1024)
        for _ in range(50):
            handle.write(chunk)


def _bomb(path: Path) -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    path.write_text("\n".join(lines) + "\n")


def _junk(path: Path) -> None:
    path.write_bytes(random.Random(2).randbytes(4096) + b"\x00")


def _junk_without_nul(path: Path) -> None:
    data = bytes(byte for byte in random.Random(3).randbytes(4096) if byte)
    path.write_bytes(b"\xff" + data)


def _writes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


BAD_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "yaml-syntax": (
        _writes(b"spec:\n  nodes: [a, b\n"),
        "YAML syntax error at line 3, column 1: expected ',' or ']'",
    ),
    "wrong-kind": (
        _writes(b"apiVersion: v1\nkind: Service\nmetadata: {name: x}\n"),
        'not a DeploymentGraph: kind is "Service"',
    ),
    "wrong-api-version": (
        _writes(b"apiVersion: braid.dev/v1\nkind: DeploymentGraph\n"),
        'apiVersion "braid.dev/v1" is not served by this braid; use "braid.dev/v1alpha1"',
    ),
    "empty": (_writes(b""), "the file is empty"),
    "whitespace-only": (_writes(b"  \n\n\t \n"), "the file is empty"),
    "comments-only": (_writes(b"# nothing here\n---\n"), "the file holds no document"),
    "several-documents": (
        _writes(HELLO.read_bytes() + b"---\n" + HELLO.read_bytes()),
        "the file holds 2 YAML documents; put each DeploymentGraph in a file of its own",
    ),
    "fifty-megabytes": (_big, "the file is larger than 1536 KiB"),
    "binary-junk": (_junk, "not a text file (it contains NUL bytes)"),
    "nul-bytes": (_writes(b"kind: Deployment\x00Graph\n"), "not a text file"),
    "junk-without-nul": (_junk_without_nul, "not UTF-8 text (byte 0xff at offset 0)"),
    "latin-1": (_writes("name: café\n".encode("latin-1")), "not UTF-8 text (byte 0xe9"),
    "top-level-list": (
        _writes(b"- apiVersion: braid.dev/v1alpha1\n"),
        "expected a DeploymentGraph object (a YAML mapping), got a list",
    ),
    "plain-string": (_writes(b"hello\n"), "got a plain string"),
    "number": (_writes(b"42\n"), "got a number"),
    "alias-bomb": (_bomb, "YAML aliases add more than 10000 values to the document"),
    "recursive-alias": (
        _writes(b"a: &a [1, *a]\n"),
        "a YAML alias refers to a collection that contains it",
    ),
    "deep-nesting": (_writes(b"[" * 5000), "nested more than 100 levels deep"),
    "duplicate-keys": (
        _writes(b"apiVersion: braid.dev/v1alpha1\nkind: DeploymentGraph\nkind: Other\n"),
        'YAML error at line 3, column 1: duplicate key "kind"',
    ),
    "on-key": (_writes(b"on: 1\n"), 'the key "on" reads as the boolean true'),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_gets_one_line_naming_it_and_exit_1(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write, reason = BAD_FILES[case]
    path = tmp_path / f"{case}.yaml"
    write(path)
    code = main(["validate", str(path)])
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert code == 1
    assert len(output.splitlines()) == 1, output
    assert output.startswith(f"{path}: ")
    assert reason in output


def test_the_real_command_gives_each_bad_file_one_line_and_no_traceback(tmp_path: Path) -> None:
    cases = sorted(BAD_FILES)
    paths = [tmp_path / f"{case}.yaml" for case in cases]
    for case, path in zip(cases, paths, strict=True):
        BAD_FILES[case][0](path)
    code, output = braid("validate", *map(str, paths))
    assert code == 1
    assert "Traceback" not in output
    lines = output.splitlines()
    assert len(lines) == len(paths), output
    for line, path, case in zip(lines, paths, cases, strict=True):
        assert line.startswith(f"{path}: ")
        assert BAD_FILES[case][1] in line


def test_a_directory_gets_one_line(tmp_path: Path) -> None:
    code, output = braid("validate", str(tmp_path))
    assert (code, output) == (1, f"{tmp_path}: is a directory, not a manifest file\n")


def test_a_missing_file_gets_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, output = braid("validate", str(missing))
    assert (code, output) == (1, f"{missing}: no such file\n")


def test_valid_files_exit_0_with_a_line_each() -> None:
    files = sorted(str(path) for path in (ROOT / "examples").glob("*/graph*.yaml"))
    code, output = braid("validate", *files)
    assert code == 0, output
    lines = [line for line in output.splitlines() if not line.startswith("  group ")]
    assert [line.split(": ", 1)[0] for line in lines] == files
    assert all(": valid (DeploymentGraph " in line for line in lines)


def test_an_invalid_graph_lists_every_problem_under_its_file() -> None:
    path = CORPUS / "several-problems.yaml"
    code, output = braid("validate", str(path))
    assert code == 1
    header, *problems = output.splitlines()
    assert header == f"{path}: invalid, 7 problems:"
    assert len(problems) == 7
    assert all(line.startswith("  spec.") for line in problems)
    assert '  spec.flow.output: unknown step "reslt" (did you mean "result"?)' in problems


def test_valid_and_invalid_files_together_exit_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    code, output = braid("validate", str(HELLO), str(empty))
    assert code == 1
    assert output.splitlines() == [
        f'{HELLO}: valid (DeploymentGraph "hello": 1 node, 1 step)',
        f"{empty}: the file is empty; expected one DeploymentGraph",
    ]


def test_json_output_has_the_documented_shape(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    cycle = CORPUS / "cycle.yaml"
    code, output = braid("validate", "--output", "json", str(HELLO), str(cycle), str(empty))
    assert code == 1
    assert json.loads(output) == [
        {"file": str(HELLO), "valid": True, "name": "hello", "error": None, "problems": []},
        {
            "file": str(cycle),
            "valid": False,
            "name": None,
            "error": None,
            "problems": [
                {
                    "path": "spec.flow.steps[0]",
                    "message": "the flow has a cycle: a -> b -> c -> a (each step feeds the next)",
                }
            ],
        },
        {
            "file": str(empty),
            "valid": False,
            "name": None,
            "error": "the file is empty; expected one DeploymentGraph",
            "problems": [],
        },
    ]


def test_json_output_of_valid_files_exits_0() -> None:
    code, output = braid("validate", "--output=json", str(HELLO))
    assert code == 0
    assert [entry["valid"] for entry in json.loads(output)] == [True]


def test_dash_reads_standard_input() -> None:
    code, output = braid("validate", "-", stdin=HELLO.read_bytes())
    assert (code, output) == (0, '<stdin>: valid (DeploymentGraph "hello": 1 node, 1 step)\n')


def test_bad_standard_input_is_named_stdin() -> None:
    code, output = braid("validate", "-", stdin=b"- a list\n")
    assert code == 1
    assert output == ("<stdin>: expected a DeploymentGraph object (a YAML mapping), got a list\n")


def test_validate_without_files_is_a_usage_error() -> None:
    code, output = braid("validate")
    assert code == 2
    assert "the following arguments are required: FILE" in output


def test_validate_help_explains_exit_codes_and_stdin() -> None:
    code, output = braid("validate", "--help")
    assert code == 0
    text = " ".join(output.split())
    assert "Exit 0 when every file is valid, 1 otherwise" in text
    assert "'-' reads standard input" in text


def test_a_valid_graph_with_a_group_says_what_it_means_for_scaling() -> None:
    lines = check_file("examples/fused-chain/graph.yaml").as_text().splitlines()
    assert lines[1].startswith(
        '  group "pipeline": nodes "parse", "scale", "label" share one pod and one process, '
        "and scale together (2 replicas, each running every member)"
    )
