"""The test tree itself: pytest imports test modules by basename (rootdir-relative, no packages),
so two test files with one basename make collection fail. Keep basenames unique."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_module_basenames_are_unique() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
