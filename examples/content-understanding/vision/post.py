"""Joins the segmentation, the integrity checks and the classification into one report."""

from __future__ import annotations

from typing import Any

import numpy as np


def aggregate(
    segments: np.ndarray, checks: dict[str, float], category: dict[str, Any], source: str
) -> dict[str, Any]:
    labels, counts = np.unique(segments, return_counts=True)
    return {
        "source": source,
        "category": category,
        "segments": {int(label): int(count) for label, count in zip(labels, counts, strict=True)},
        "quality": checks,
        "usable": checks["contrast"] > 0.05,
    }
