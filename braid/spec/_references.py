"""The small languages inside a flow: references (``$step.field``) and calls (``node.method``).

A reference is a string that starts with ``$``: ``$name`` names the graph input or a step, and
dotted segments after it pick a field (``$request.language``) or a list index (``$boxes.0``).
``$$`` at the start escapes a literal dollar. References may sit anywhere inside list and object
arguments; :func:`iter_references` finds them and :func:`substitute` replaces them by values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_REFERENCE = re.compile(r"^\$(?P<source>[A-Za-z_][A-Za-z0-9_-]*)(?P<path>(\.[A-Za-z0-9_-]+)*)$")
_CALL = re.compile(r"^(?P<node>[a-z]([-a-z0-9]*[a-z0-9])?)(\.(?P<method>[A-Za-z_][A-Za-z0-9_]*))?$")

#: The method called when a step names a node without a method: a function, or ``__call__``.
CALL_METHOD = "__call__"


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed ``$source.path`` reference."""

    source: str
    path: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "$" + ".".join((self.source, *self.path))

    def pick(self, value: Any) -> Any:
        """Follow ``path`` into ``value``; ``LookupError`` names the first segment that fails."""
        for segment in self.path:
            if isinstance(value, dict):
                if segment not in value:
                    raise LookupError(
                        f'{self}: no field "{segment}" in the value of ${self.source}'
                    )
                value = value[segment]
            elif isinstance(value, (list, tuple)) and segment.isdigit():
                index = int(segment)
                if index >= len(value):
                    raise LookupError(
                        f"{self}: index {index} is out of range (length {len(value)})"
                    )
                value = value[index]
            else:
                raise LookupError(
                    f'{self}: cannot take "{segment}" of a {type(value).__name__} value'
                )
        return value


@dataclass(frozen=True, slots=True)
class CallTarget:
    """A parsed ``node.method`` call."""

    node: str
    method: str

    def __str__(self) -> str:
        return self.node if self.method == CALL_METHOD else f"{self.node}.{self.method}"


class ReferenceSyntaxError(ValueError):
    """A string starting with ``$`` that is not a well-formed reference."""


def parse_reference(text: str) -> Reference | None:
    """Parse ``text``: a :class:`Reference`, ``None`` for a literal, or a syntax error."""
    if not text.startswith("$") or text.startswith("$$"):
        return None
    match = _REFERENCE.match(text)
    if match is None:
        raise ReferenceSyntaxError(
            f'"{text}" is not a reference; write "$name" or "$name.field" '
            '(or "$$..." for a literal dollar)'
        )
    path = tuple(match["path"].split(".")[1:]) if match["path"] else ()
    return Reference(match["source"], path)


def parse_call(text: str) -> CallTarget:
    """Parse ``node.method`` (or ``node``); ``ValueError`` says what is wrong."""
    match = _CALL.match(text)
    if match is None:
        raise ValueError(
            f'"{text}" is not a call; write "node.method" or "node" '
            "(a node name, a dot and a Python identifier)"
        )
    return CallTarget(match["node"], match["method"] or CALL_METHOD)


def iter_references(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(path, text)`` for every string inside ``value`` that starts with a single ``$``."""
    if isinstance(value, str):
        if value.startswith("$") and not value.startswith("$$"):
            yield where, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_references(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_references(item, f"{where}.{key}")


def substitute(value: Any, resolve: Callable[[Reference], Any]) -> Any:
    """Return ``value`` with every reference replaced by ``resolve(reference)``.

    ``$$`` escapes are unescaped. Values without references are returned as they are (no copy).
    """
    if isinstance(value, str):
        if value.startswith("$$"):
            return value[1:]
        reference = parse_reference(value)
        return value if reference is None else resolve(reference)
    if isinstance(value, list):
        return [substitute(item, resolve) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, resolve) for key, item in value.items()}
    return value
