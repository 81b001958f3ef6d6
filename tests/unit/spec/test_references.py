"""References (``$step.field``, ``$$`` escapes) and calls (``node.method``)."""

from __future__ import annotations

from typing import Any

import pytest

from braid.spec import (
    CALL_METHOD,
    CallTarget,
    Reference,
    iter_references,
    parse_call,
    parse_reference,
    substitute,
)
from braid.spec._references import ReferenceSyntaxError


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("$input", Reference("input")),
        ("$by-length", Reference("by-length")),
        ("$_private", Reference("_private")),
        ("$request.language", Reference("request", ("language",))),
        ("$boxes.0.label", Reference("boxes", ("0", "label"))),
        ("$a.b-c.d_e", Reference("a", ("b-c", "d_e"))),
    ],
)
def test_references_parse(text: str, reference: Reference) -> None:
    assert parse_reference(text) == reference
    assert str(reference) == text


@pytest.mark.parametrize("text", ["plain", "", "$$5", "$$input", "a$b", "5$"])
def test_literals_are_not_references(text: str) -> None:
    assert parse_reference(text) is None


@pytest.mark.parametrize("text", ["$", "$5", "$a..b", "$a.", "$a b", "$a.b c", "$.a", "$a[0]"])
def test_malformed_references_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ReferenceSyntaxError) as caught:
        parse_reference(text)
    assert str(caught.value) == (
        f'"{text}" is not a reference; write "$name" or "$name.field" '
        '(or "$$..." for a literal dollar)'
    )


def test_a_reference_syntax_error_is_a_value_error() -> None:
    assert issubclass(ReferenceSyntaxError, ValueError)


def test_pick_follows_fields_and_indexes() -> None:
    value = {"boxes": [{"label": "cat"}, {"label": "dog"}], "n": 2}
    assert Reference("r", ("boxes", "1", "label")).pick(value) == "dog"
    assert Reference("r").pick(value) is value
    assert Reference("r", ("boxes", "0")).pick({"boxes": ({"x": 1},)}) == {"x": 1}


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("missing",), {"a": 1}, '$r.missing: no field "missing" in the value of $r'),
        (("5",), [1, 2], "$r.5: index 5 is out of range (length 2)"),
        (("first",), [1, 2], '$r.first: cannot take "first" of a list value'),
        (("a", "b"), {"a": 3}, '$r.a.b: cannot take "b" of a int value'),
        (("x",), None, '$r.x: cannot take "x" of a NoneType value'),
    ],
)
def test_pick_names_the_segment_that_fails(path: tuple[str, ...], value: Any, message: str) -> None:
    with pytest.raises(LookupError) as caught:
        Reference("r", path).pick(value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("adder.add", CallTarget("adder", "add")),
        ("greeter", CallTarget("greeter", CALL_METHOD)),
        ("by-caps.score_2", CallTarget("by-caps", "score_2")),
        ("n.__call__", CallTarget("n", "__call__")),
    ],
)
def test_calls_parse(text: str, target: CallTarget) -> None:
    assert parse_call(text) == target


def test_a_call_prints_as_written() -> None:
    assert str(CallTarget("adder", "add")) == "adder.add"
    assert str(CallTarget("greeter", CALL_METHOD)) == "greeter"


@pytest.mark.parametrize(
    "text", ["", "Adder.add", "a..b", "a.b.c", "a.", ".a", "a.b()", "a-.b", "a.1b"]
)
def test_malformed_calls_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a call; write"):
        parse_call(text)


def test_iter_references_finds_references_at_any_depth_with_their_paths() -> None:
    value = {
        "a": "$x",
        "b": ["lit", "$y.f", {"c": "$z"}],
        "d": "$$escaped",
        "e": 5,
        "f": None,
    }
    assert list(iter_references(value, "args")) == [
        ("args.a", "$x"),
        ("args.b[1]", "$y.f"),
        ("args.b[2].c", "$z"),
    ]
    assert list(iter_references("$bad syntax")) == [("", "$bad syntax")]
    assert list(iter_references([1, 2.5, True])) == []


def test_substitute_replaces_references_and_unescapes_dollars() -> None:
    values = {"input": {"name": "Dora"}, "n": 5}

    def resolve(reference: Reference) -> Any:
        return reference.pick(values[reference.source])

    arguments = ["$input.name", {"count": "$n", "price": "$$5", "note": "$ plain?"[2:]}, 7]
    assert substitute(arguments, resolve) == [
        "Dora",
        {"count": 5, "price": "$5", "note": "plain?"},
        7,
    ]
    assert substitute("$$$input", resolve) == "$$input"


def test_substitute_returns_values_without_references_as_they_are() -> None:
    literal = {"a": 1}
    assert substitute(5, lambda _: None) == 5
    assert substitute("text", lambda _: None) == "text"
    assert substitute(literal, lambda _: None) == literal


def test_substitute_raises_on_malformed_references() -> None:
    with pytest.raises(ReferenceSyntaxError):
        substitute(["$a..b"], lambda _: None)
