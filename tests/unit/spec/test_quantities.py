"""Kubernetes quantities: the grammar and the values the API server gives them."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from braid.spec import parse_quantity
from braid.spec._quantities import QUANTITY_PATTERN


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", Decimal(2)),
        (2, Decimal(2)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("+1", Decimal(1)),
        ("8Gi", Decimal(8 * 2**30)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Ki", Decimal(1024)),
        ("1Ei", Decimal(2**60)),
        ("1k", Decimal(1000)),
        ("3M", Decimal(3_000_000)),
        ("1G", Decimal(10**9)),
        ("100n", Decimal("1e-7")),
        ("5u", Decimal("5e-6")),
        ("1e3", Decimal(1000)),
        ("1E-2", Decimal("0.01")),
        ("-1", Decimal(-1)),
    ],
)
def test_quantities_parse_to_their_value(text: str | int, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["two", "", " 2 ", "1.5.1", "8 GB", "8gi", "1Gb", "Gi", "1KiB", "0x10", "1e"]
)
def test_non_quantities_are_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity") as caught:
        parse_quantity(text)
    assert '"500m"' in str(caught.value)


def test_a_boolean_is_not_a_quantity() -> None:
    with pytest.raises(ValueError, match="is not a quantity"):
        parse_quantity(True)


@pytest.mark.parametrize("text", ["2", "500m", "1.5", "8Gi", "1e3", "-1", "+.5"])
def test_the_published_pattern_agrees_on_valid_quantities(text: str) -> None:
    assert re.match(QUANTITY_PATTERN, text)
    parse_quantity(text)


@pytest.mark.parametrize("text", ["two", "8 GB", "8gi", "1KiB", "", " 2 "])
def test_the_published_pattern_agrees_on_invalid_quantities(text: str) -> None:
    assert not re.match(QUANTITY_PATTERN, text)
