"""Node code of the sub-graphs example: a review graph that calls a scoring graph.

Plain functions are function nodes: a step calls them as ``node`` (their ``__call__``).
"""

from __future__ import annotations

import re

POSITIVE = frozenset({"great", "good", "well", "love", "excellent", "fast"})
NEGATIVE = frozenset({"bad", "broken", "poor", "terrible", "slow", "awful"})


def clean(text: str) -> str:
    """Lower case, letters, digits and single spaces only."""
    return " ".join(re.findall(r"[a-z0-9]+", str(text).lower()))


def split(text: str) -> list[str]:
    """The words of a cleaned text."""
    return text.split()


def score(words: list[str]) -> dict[str, int]:
    """Positive and negative words, and their difference. An empty review cannot be scored."""
    if not words:
        raise ValueError("nothing to score: the review has no words")
    positive = sum(word in POSITIVE for word in words)
    negative = sum(word in NEGATIVE for word in words)
    return {"positive": positive, "negative": negative, "score": positive - negative}


def judge(text: str, scores: dict[str, int]) -> dict[str, object]:
    """Publish a review that scores zero or more; hold the others for a person to read."""
    verdict = "publish" if scores["score"] >= 0 else "hold"
    return {"text": text, "score": scores["score"], "verdict": verdict}
