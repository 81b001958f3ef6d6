"""Stand-ins for a segmentation model and an integrity (quality) model."""

from __future__ import annotations

import numpy as np


class Segmentation:
    def __init__(self, levels: int = 4) -> None:
        self.levels = levels

    def forward(self, image: np.ndarray) -> np.ndarray:
        """A label map: brightness quantised into ``levels`` segments."""
        brightness = image.mean(axis=2)
        return np.minimum((brightness * self.levels).astype(np.int64), self.levels - 1)


class Integrity:
    def forward(self, image: np.ndarray) -> dict[str, float]:
        return {
            "contrast": float(image.std()),
            "saturated": float((image > 0.98).mean()),
        }
