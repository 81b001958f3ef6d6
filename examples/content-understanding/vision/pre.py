"""Turns raw RGB bytes into a normalised float32 array of a fixed size."""

from __future__ import annotations

import numpy as np

from vision.io import SIDE


class Preprocessor:
    def __init__(self, size: int = 64) -> None:
        self.size = size

    def process(self, raw: bytes) -> np.ndarray:
        if len(raw) != SIDE * SIDE * 3:
            raise ValueError(
                f"expected {SIDE}x{SIDE} RGB bytes ({SIDE * SIDE * 3}), got {len(raw)}"
            )
        image = np.frombuffer(raw, dtype=np.uint8).reshape(SIDE, SIDE, 3)
        step = SIDE / self.size
        rows = (np.arange(self.size) * step).astype(int)
        return image[rows][:, rows].astype(np.float32) / 255.0
