"""Joins the segmentation, the integrity checks and the classification into one report."""

from __future__ import annotations

from typing import Any

import numpy as np


class Aggregate:
    """A class, not a function, because its ``userConfig`` arrives through ``reconfigure()``."""

    def __init__(self) -> None:
        self.threshold = 0.05

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.threshold = float(config.get("threshold", self.threshold))

    def __call__(
        self,
        segments: np.ndarray,
        checks: dict[str, float],
        category: dict[str, Any],
        source: str,
    ) -> dict[str, Any]:
        labels, counts = np.unique(segments, return_counts=True)
        return {
            "source": source,
            "category": category,
            "segments": {
                int(label): int(count) for label, count in zip(labels, counts, strict=True)
            },
            "quality": checks,
            "usable": checks["contrast"] > 0.05,
            "confident": category.get("score", 1.0) >= self.threshold,
        }
