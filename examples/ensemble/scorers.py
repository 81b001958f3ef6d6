"""Three toy scorers and a weighted average: an ensemble with a fan-in join."""

from __future__ import annotations


class LengthScorer:
    def score(self, text: str) -> float:
        return min(len(text) / 100, 1.0)


class VowelScorer:
    def score(self, text: str) -> float:
        letters = [c for c in text.lower() if c.isalpha()]
        return sum(c in "aeiou" for c in letters) / len(letters) if letters else 0.0


class CapitalScorer:
    def score(self, text: str) -> float:
        letters = [c for c in text if c.isalpha()]
        return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def average(scores: list[float], weights: list[float]) -> dict[str, float | list[float]]:
    total = sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights)
    return {"score": round(total, 4), "scores": [round(s, 4) for s in scores]}
