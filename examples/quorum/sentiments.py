"""Three sentiment models of an ensemble; one of them is slow on long texts, and the input can
ask one to fail, so that the README's requests show the quorum at work."""

from __future__ import annotations

import asyncio
from typing import Any

POSITIVE = {"good", "great", "love", "fine", "happy"}
NEGATIVE = {"bad", "awful", "hate", "sad", "broken"}


def _score(text: str) -> float:
    words = text.lower().split()
    return float(sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words))


class Lexicon:
    def score(self, request: dict[str, Any]) -> float:
        if request.get("fail") == "lexicon":
            raise RuntimeError("the lexicon is missing")
        return _score(request["text"])


class Counter:
    def score(self, request: dict[str, Any]) -> float:
        return _score(request["text"]) / 2


class Transformer:
    """The slow one: a long text takes it far longer than the ensemble waits."""

    async def score(self, request: dict[str, Any]) -> float:
        if len(request["text"]) > 40:
            await asyncio.sleep(30)
        return _score(request["text"]) * 2


def vote(scores: list[float | None], missing: list[str]) -> dict[str, Any]:
    """The mean of the scores that arrived; ``missing`` names the models that did not."""
    present = [score for score in scores if score is not None]
    mean = sum(present) / len(present)
    return {
        "label": "positive" if mean > 0 else "negative" if mean < 0 else "neutral",
        "models": len(present),
        "missing": missing,
    }
