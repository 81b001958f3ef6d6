"""Errors of ``braid.spec``.

Hierarchy::

    SpecError                 root of every error raised by braid.spec
    ├── ManifestError         the file cannot be read as one manifest (size, encoding, YAML, count)
    └── GraphInvalid          the manifest was read but breaks the schema or the graph's rules;
                              ``.problems`` lists every problem with its field path
"""

from __future__ import annotations

from dataclasses import dataclass


class SpecError(Exception):
    """Root of the errors raised by ``braid.spec``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ManifestError(SpecError):
    """A file that cannot be read as exactly one manifest."""


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One problem of a manifest: the field path it is at, and what is wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class GraphInvalid(SpecError):
    """A manifest that breaks the schema or the graph's rules; every problem is listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''}:\n{lines}")
