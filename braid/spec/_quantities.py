"""Kubernetes resource quantities ("500m", "8Gi", "1.5", 2), parsed the way the API server does.

Only the grammar and the numeric value matter here: braid checks that a quantity parses and
compares quantities, while the exact canonical form is left to the API server.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The grammar of k8s.io/apimachinery/pkg/api/resource: a signed decimal number, then an optional
# binary suffix (Ki..Ei), decimal suffix (n, u, m, k, M, G, T, P, E) or decimal exponent.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}

#: The pattern Kubernetes publishes for quantities in OpenAPI, reused in the generated CRD.
QUANTITY_PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"  # noqa: E501


def parse_quantity(value: str | int | float) -> Decimal:
    """Return the numeric value of a Kubernetes quantity, or raise ``ValueError`` naming it."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    text = str(value)  # no strip: the API server refuses " 2 " too
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(
            f'"{text}" is not a Kubernetes quantity (examples: "500m", "2", "8Gi", "512Mi")'
        )
    try:
        number = Decimal(match["number"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f'"{text}" is not a Kubernetes quantity') from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number
