"""Reading manifests from files and text: one clear error for anything that is not one manifest.

A manifest file holds exactly one YAML (or JSON) document. Files that are too large, binary,
empty, not valid YAML or that hold several documents raise :class:`ManifestError` with a one-line
reason and, for YAML errors, the line and column. YAML aliases are capped, so that a small file
cannot expand into gigabytes, and duplicate keys are errors, since YAML would keep the last one
silently.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from braid.spec._errors import ManifestError
from braid.spec._graphs import DeploymentGraph
from braid.spec._validating import validate_graph

#: etcd stores objects of at most 1.5 MiB, so a larger manifest could never be applied.
MAX_MANIFEST_BYTES = 3 * 1024 * 1024 // 2
#: Enough for the anchors a hand-written manifest uses; far too few for an alias bomb.
MAX_ALIASES = 100
#: Values that aliases may add to a document beyond the file's own ("billion laughs" adds 10^9).
MAX_ALIAS_EXPANSION = 10_000
#: Nesting depth of collections; manifests use a dozen levels, and the checks recurse.
MAX_DEPTH = 100
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _ManifestLoader(yaml.SafeLoader):
    """A safe loader that caps aliases, their expansion and nesting, and rejects duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _refused(f"more than {MAX_ALIASES} YAML aliases", mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _refused(f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None and self._aliases:
            _check_expansion(node)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:  # "<<: *base" may be overridden by later keys
                    continue
                self._check_key(key_node, seen)
            self.flatten_mapping(node)
        return super().construct_mapping(node, deep=deep)

    def _check_key(self, key_node: yaml.Node, seen: set[object]) -> None:
        mark = key_node.start_mark
        if not isinstance(key_node, yaml.ScalarNode):
            raise _refused("a key must be a plain value, not a list or a mapping", mark)
        key = self.construct_object(key_node)
        if isinstance(key, bool):
            raise _refused(
                f'the key "{key_node.value}" reads as the boolean {str(key).lower()} in YAML '
                f'(kubectl reads it so too); quote it ("{key_node.value}")',
                mark,
            )
        if key in seen:
            raise _refused(f'duplicate key "{key}"', mark)
        seen.add(key)


def _refused(problem: str, mark: Any) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, problem, mark)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse recursive aliases and aliases that multiply the document (an alias bomb).

    Counts the values of the document as constructed (aliases expanded) without expanding it:
    each distinct node's size is computed once, iteratively, so the check itself stays small.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
        elif key in open_nodes:
            raise _refused("a YAML alias refers to a collection that contains it", node.start_mark)
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    if sizes[id(root)] - len(sizes) > MAX_ALIAS_EXPANSION:
        raise _refused(
            f"YAML aliases add more than {MAX_ALIAS_EXPANSION} values to the document "
            "(an alias bomb?); write the values out",
            root.start_mark,
        )


def read_manifest_file(path: str | Path) -> object:
    """Read one manifest document from ``path`` ("-" reads standard input, named ``<stdin>``)."""
    source = "<stdin>" if str(path) == "-" else str(path)
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_MANIFEST_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise ManifestError(f"{source}: is a directory, not a manifest file") from None
    except OSError as exc:
        raise ManifestError(f"{source}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{source}: the file is larger than {MAX_MANIFEST_BYTES // 1024} KiB, "
            "the most Kubernetes can store in one object"
        )
    return parse_manifest_bytes(data, source)


def parse_manifest_bytes(data: bytes, source: str = "<manifest>") -> object:
    """Parse the bytes of one manifest into plain data (dicts, lists, scalars)."""
    if b"\x00" in data:
        raise ManifestError(f"{source}: not a text file (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return parse_manifest_text(text, source)


def parse_manifest_text(text: str, source: str = "<manifest>") -> object:
    """Parse the text of one manifest into plain data."""
    if not text.strip():
        raise ManifestError(f"{source}: the file is empty; expected one DeploymentGraph")
    try:
        loader = _ManifestLoader(text)
    except yaml.reader.ReaderError as exc:
        raise ManifestError(f"{source}: {_reader_problem(text, exc)}") from None
    try:
        documents = []
        while loader.check_node():
            documents.append(loader.construct_document(loader.get_node()))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        # A constructor error is well-formed YAML that braid refuses (aliases, keys), not syntax.
        constructing = isinstance(exc, yaml.constructor.ConstructorError)
        label = "YAML error" if constructing else "YAML syntax error"
        raise ManifestError(f"{source}: {label}{where}: {what}") from None
    except yaml.reader.ReaderError as exc:
        raise ManifestError(f"{source}: {_reader_problem(text, exc)}") from None
    except yaml.YAMLError as exc:  # pragma: no cover - every error PyYAML raises is one of above
        raise ManifestError(f"{source}: YAML error: {' '.join(str(exc).split())}") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops nesting well before this
        raise ManifestError(f"{source}: YAML nested too deeply") from None
    finally:
        loader.dispose()
    documents = [document for document in documents if document is not None]
    if not documents:
        raise ManifestError(f"{source}: the file holds no document; expected one DeploymentGraph")
    if len(documents) > 1:
        raise ManifestError(
            f"{source}: the file holds {len(documents)} YAML documents; "
            "put each DeploymentGraph in a file of its own"
        )
    return documents[0]


def _reader_problem(text: str, exc: yaml.reader.ReaderError) -> str:
    """A character YAML does not allow (a control character), with its line and column."""
    before = text[: exc.position]
    line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
    return (
        f"YAML syntax error at line {line}, column {column}: "
        f"character U+{exc.character:04X} is not allowed in YAML (a control character?)"
    )


def load_graph(path: str | Path) -> DeploymentGraph:
    """Read and validate the manifest at ``path``; raises ``ManifestError`` or ``GraphInvalid``."""
    return validate_graph(read_manifest_file(path))
