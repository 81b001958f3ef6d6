"""The node of graphs/tensors.yaml: what a v2 request's tensors arrive as, answered back."""

from __future__ import annotations

from typing import Any

import numpy as np


def transform(value: Any) -> Any:
    """FP32 + 0.5, INT64 * 2, BYTES upper-cased; several inputs give one output each."""
    if isinstance(value, dict):
        return {f"{name}_out": transform(item) for name, item in value.items()}
    if isinstance(value, list):  # BYTES: a list of bytes, nested by the shape
        return [transform(item) if isinstance(item, list) else item.upper() for item in value]
    if value.dtype == np.int64:
        return value * 2
    return value + np.float32(0.5)
