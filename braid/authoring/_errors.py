"""Errors of ``braid.authoring``, and where in the user's Python source each one points.

Hierarchy::

    AuthoringError            root of every error raised by braid.authoring
    ├── BindError             a bind(), .bind() or dispatch() call is wrong; raised at once,
    │                         its message starts with the caller's file:line
    ├── AppLoadError          "module:attribute" leads to no graph, or importing it failed
    └── BuildInvalid          the built manifest breaks the spec; ``.problems`` lists each
                              problem with the source line of the node or step it belongs to

Every object of a graph records the file and line of the call that made it (:class:`Origin`),
so that a problem found later, when the manifest is validated, still points at the Python line
the user wrote rather than only at a field path of a manifest they never saw.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path

#: Frames of this package are skipped when looking for the user's line.
_PACKAGE = __name__.rpartition(".")[0]


@dataclass(frozen=True, slots=True)
class Origin:
    """A place in the user's source: a file (relative to the working folder) and a line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def caller_origin() -> Origin | None:
    """The file and line of the nearest caller outside ``braid.authoring``."""
    frame = inspect.currentframe()
    try:
        while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(_PACKAGE):
            frame = frame.f_back
        if frame is None:
            return None
        return Origin(_shown(frame.f_code.co_filename), frame.f_lineno)
    finally:
        del frame  # frames hold their locals: do not keep them alive


def _shown(filename: str) -> str:
    path = Path(filename)
    if not path.is_absolute():
        return filename
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return filename


def at(origin: Origin | None, message: str) -> str:
    """``message`` prefixed with ``file:line: `` when the origin is known."""
    return f"{origin}: {message}" if origin else message


class AuthoringError(Exception):
    """Root of the errors raised by ``braid.authoring``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BindError(AuthoringError):
    """A call that declares part of a graph is wrong (raised where it is made)."""


class AppLoadError(AuthoringError):
    """``module:attribute`` does not lead to a graph, or importing its module failed."""


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """One problem of a built graph: where it was declared, what it is, and its manifest path."""

    origin: Origin | None
    subject: str  # 'node "adder"', 'step "sum"' or "the graph"
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.subject} ({self.path})" if self.path else self.subject
        return at(self.origin, f"{where}: {self.message}")


class BuildInvalid(AuthoringError):
    """The manifest built from Python breaks the spec; every problem is listed."""

    def __init__(self, graph: str, problems: list[SourceProblem]) -> None:
        self.graph = graph
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(
            f'graph "{graph}" is invalid, {count} problem{"s" if count != 1 else ""}:\n{lines}'
        )
