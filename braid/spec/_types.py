"""Field types shared by the spec's models: Kubernetes quantities and free-form JSON."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from braid.spec._quantities import QUANTITY_PATTERN, parse_quantity


def _to_quantity(value: Any) -> Any:
    """Accept ``2`` as well as ``"2"``; reject floats, which the API server would refuse."""
    if isinstance(value, bool):
        raise ValueError('expected a quantity such as "2", "500m" or "8Gi", got a boolean')
    if isinstance(value, float):
        raise ValueError(
            f"expected a string or an integer quantity, got {value:g}; "
            'write e.g. "1500m" or "1.5Gi"'
        )
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str) and parse_quantity(value) < 0:
        raise ValueError(f'must not be negative, got "{value}"')
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_to_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]

JsonValue = Annotated[Any, WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True})]
JsonObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]
