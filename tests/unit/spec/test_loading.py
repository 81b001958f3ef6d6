"""Reading manifests: one document, bounded size, aliases and nesting, strict keys."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from braid.spec import (
    MAX_MANIFEST_BYTES,
    DeploymentGraph,
    GraphInvalid,
    ManifestError,
    load_graph,
    parse_manifest_bytes,
    parse_manifest_text,
    read_manifest_file,
)
from braid.spec._loading import MAX_ALIAS_EXPANSION, MAX_ALIASES, MAX_DEPTH

ROOT = Path(__file__).parents[3]
HELLO = ROOT / "examples" / "hello" / "graph.yaml"


def refusal(text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        parse_manifest_text(text, "m.yaml")
    return str(caught.value)


def test_a_manifest_parses_to_plain_data() -> None:
    assert parse_manifest_text("a: [1, two, {b: null}]\n") == {"a": [1, "two", {"b": None}]}


def test_json_is_yaml_too() -> None:
    assert parse_manifest_text('{"kind": "DeploymentGraph", "n": [1.5]}') == {
        "kind": "DeploymentGraph",
        "n": [1.5],
    }


def test_a_byte_order_mark_is_skipped() -> None:
    assert parse_manifest_bytes(b"\xef\xbb\xbfa: 1\n") == {"a": 1}


def test_the_size_limit_is_what_etcd_can_store() -> None:
    assert MAX_MANIFEST_BYTES == 1536 * 1024


def test_a_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (MAX_MANIFEST_BYTES - 3))
    assert read_manifest_file(path) == {"a": "x" * (MAX_MANIFEST_BYTES - 3)}


def test_a_file_one_byte_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (MAX_MANIFEST_BYTES - 2))
    with pytest.raises(ManifestError) as caught:
        read_manifest_file(path)
    assert str(caught.value) == (
        f"{path}: the file is larger than 1536 KiB, the most Kubernetes can store in one object"
    )


def test_standard_input_is_read_for_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b"a: 1\n")

    monkeypatch.setattr("sys.stdin", Stdin())
    assert read_manifest_file("-") == {"a": 1}


def test_bad_standard_input_is_named_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b"")

    monkeypatch.setattr("sys.stdin", Stdin())
    with pytest.raises(ManifestError, match=r"^<stdin>: the file is empty"):
        read_manifest_file("-")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "m.yaml: the file is empty; expected one DeploymentGraph"),
        (b" \n\t\n", "m.yaml: the file is empty; expected one DeploymentGraph"),
        (b"---\n...\n", "m.yaml: the file holds no document; expected one DeploymentGraph"),
        (b"null\n", "m.yaml: the file holds no document; expected one DeploymentGraph"),
        (
            b"a: 1\n---\nb: 2\n---\nc: 3\n",
            "m.yaml: the file holds 3 YAML documents; "
            "put each DeploymentGraph in a file of its own",
        ),
        (b"a\x00", "m.yaml: not a text file (it contains NUL bytes)"),
        (b"a: \xc3\x28\n", "m.yaml: not UTF-8 text (byte 0xc3 at offset 3)"),
        (
            b"a: 'unterminated\n",
            "m.yaml: YAML syntax error at line 2, column 1: found unexpected end of stream",
        ),
        (
            b"a: b: c\n",
            "m.yaml: YAML syntax error at line 1, column 5: mapping values are not allowed here",
        ),
        (
            b"a: *nowhere\n",
            "m.yaml: YAML syntax error at line 1, column 4: found undefined alias 'nowhere'",
        ),
        (
            b"a: \x07\n",
            "m.yaml: YAML syntax error at line 1, column 4: "
            "character U+0007 is not allowed in YAML (a control character?)",
        ),
    ],
)
def test_files_that_are_not_one_manifest_get_one_line(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest_bytes(data, "m.yaml")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("key", ["on", "off", "yes", "no", "true", "False", "ON"])
def test_keys_that_yaml_reads_as_booleans_are_refused(key: str) -> None:
    message = refusal(f"spec:\n  {key}: 1\n")
    assert message.startswith("m.yaml: YAML error at line 2, column 3: ")
    assert f'the key "{key}" reads as the boolean' in message
    assert f'quote it ("{key}")' in message


def test_quoted_boolean_words_are_plain_keys() -> None:
    assert parse_manifest_text("\"on\": 1\n'yes': 2\n") == {"on": 1, "yes": 2}


def test_boolean_values_are_fine() -> None:
    assert parse_manifest_text("a: on\nb: no\n") == {"a": True, "b": False}


@pytest.mark.parametrize(
    ("text", "where", "key"),
    [
        ("a: 1\nb: 2\na: 3\n", "line 3, column 1", "a"),
        ("x:\n  y: 1\n  y: 2\n", "line 3, column 3", "y"),
        ("1: a\n1: b\n", "line 2, column 1", "1"),
        ("- {n: 1, n: 2}\n", "line 1, column 10", "n"),
    ],
)
def test_duplicate_keys_are_refused_where_they_repeat(text: str, where: str, key: str) -> None:
    assert refusal(text) == f'm.yaml: YAML error at {where}: duplicate key "{key}"'


def test_a_merge_key_is_not_a_duplicate() -> None:
    text = "base: &b {cpu: '1'}\nnode:\n  <<: *b\n  memory: 1Gi\n"
    assert parse_manifest_text(text) == {
        "base": {"cpu": "1"},
        "node": {"cpu": "1", "memory": "1Gi"},
    }


def test_anchors_a_person_writes_are_fine() -> None:
    shared = "tolerations: &t [{key: gpu, operator: Exists}]\n"
    uses = "".join(f"n{i}: *t\n" for i in range(MAX_ALIASES))
    loaded = parse_manifest_text(shared + uses)
    assert isinstance(loaded, dict)
    assert loaded["n0"] == [{"key": "gpu", "operator": "Exists"}]


def test_too_many_aliases_are_refused() -> None:
    text = "a: &a 1\n" + "".join(f"n{i}: *a\n" for i in range(MAX_ALIASES + 1))
    assert refusal(text) == (
        f"m.yaml: YAML error at line {MAX_ALIASES + 2}, column 7: "
        f"more than {MAX_ALIASES} YAML aliases"
    )


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    lines = ["a: &a [" + ", ".join(["lol"] * 10) + "]"]
    for previous, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    message = refusal("\n".join(lines))
    assert message == (
        f"m.yaml: YAML error at line 1, column 1: YAML aliases add more than "
        f"{MAX_ALIAS_EXPANSION} values to the document (an alias bomb?); write the values out"
    )


def test_aliases_just_under_the_expansion_limit_are_fine() -> None:
    # One list of 1000 scalars used 9 times adds about 9 * 1001 values.
    text = "a: &a [" + ", ".join(["x"] * 1000) + "]\n" + "".join(f"b{i}: *a\n" for i in range(9))
    loaded = parse_manifest_text(text)
    assert isinstance(loaded, dict)
    assert len(loaded) == 10


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: [1, {c: *a}]}\n"])
def test_a_recursive_alias_is_refused(text: str) -> None:
    assert refusal(text).endswith("a YAML alias refers to a collection that contains it")


def test_nesting_up_to_the_limit_is_fine_and_deeper_is_refused() -> None:
    assert parse_manifest_text("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    message = refusal("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert message == (
        f"m.yaml: YAML error at line 1, column {MAX_DEPTH + 1}: "
        f"nested more than {MAX_DEPTH} levels deep"
    )


def test_deep_nesting_far_beyond_the_recursion_limit_is_one_error() -> None:
    assert "nested more than" in refusal("[" * 100_000)


def test_load_graph_reads_and_validates(tmp_path: Path) -> None:
    graph = load_graph(HELLO)
    assert isinstance(graph, DeploymentGraph)
    assert graph.metadata.name == "hello"
    bad = tmp_path / "bad.yaml"
    bad.write_text(HELLO.read_text().replace("output: $greeting", "output: $greting"))
    with pytest.raises(GraphInvalid) as caught:
        load_graph(bad)
    assert [str(p) for p in caught.value.problems] == [
        'spec.flow.output: unknown step "greting" (did you mean "greeting"?)'
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.yaml", "no such file"), (".", "is a directory, not a manifest file")],
)
def test_unreadable_paths_get_one_line(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    with pytest.raises(ManifestError) as caught:
        read_manifest_file(path)
    assert str(caught.value) == f"{path}: {message}"


def test_a_key_that_is_a_collection_is_refused() -> None:
    assert refusal("? [1, 2]\n: x\n") == (
        "m.yaml: YAML error at line 1, column 3: "
        "a key must be a plain value, not a list or a mapping"
    )


def test_a_merge_key_may_be_overridden() -> None:
    assert parse_manifest_text("a: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n") == {
        "a": {"x": 1, "y": 2},
        "c": {"x": 3, "y": 2},
    }
