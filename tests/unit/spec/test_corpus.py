"""The corpus of invalid manifests: each file states the exact problems that it must produce.

A file under ``tests/corpus/invalid/`` opens with comment lines ``# expect: path: message``; the
test validates the file the way ``braid validate`` does and compares the set of problems with
them. A file that cannot be read as one manifest expects its one-line reason, without the file
name. New files are picked up by the glob.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from braid.spec import GraphInvalid, ManifestError, parse_manifest_bytes, validate_graph

CORPUS = Path(__file__).parents[2] / "corpus" / "invalid"
FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = "# expect: "


def expected_lines(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.removeprefix(EXPECT) for line in lines if line.startswith(EXPECT)}


def actual_lines(path: Path) -> set[str]:
    try:
        validate_graph(parse_manifest_bytes(path.read_bytes(), path.name))
    except GraphInvalid as exc:
        return {str(problem) for problem in exc.problems}
    except ManifestError as exc:
        return {str(exc).removeprefix(f"{path.name}: ")}
    return set()


def test_the_corpus_is_large_and_every_file_expects_something() -> None:
    assert len(FILES) >= 30
    assert all(expected_lines(path) for path in FILES), "a corpus file without '# expect:'"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_invalid_manifest_reports_exactly_the_expected_problems(path: Path) -> None:
    expected, actual = expected_lines(path), actual_lines(path)
    missing, unexpected = sorted(expected - actual), sorted(actual - expected)
    assert not missing and not unexpected, (
        f"{path.name}\n  missing:\n"
        + "".join(f"    {line}\n" for line in missing)
        + "  unexpected:\n"
        + "".join(f"    {line}\n" for line in unexpected)
    )
