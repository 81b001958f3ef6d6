"""Three toy classifiers with the same interface."""

from __future__ import annotations

from typing import Any

import numpy as np


def _confidence(image: np.ndarray, channel: int) -> float:
    means = image.mean(axis=(0, 1))
    return round(float(means[channel] / means.sum()), 4)


class Fruit:
    def classify(self, image: np.ndarray, hint: str = "") -> dict[str, Any]:
        return {"classifier": "fruit", "label": "apple", "confidence": _confidence(image, 0)}


class Car:
    def classify(self, image: np.ndarray, hint: str = "") -> dict[str, Any]:
        return {"classifier": "car", "label": "sedan", "confidence": _confidence(image, 2)}


class General:
    def classify(self, image: np.ndarray, hint: str = "") -> dict[str, Any]:
        return {
            "classifier": "general",
            "label": hint or "object",
            "confidence": _confidence(image, 1),
        }
