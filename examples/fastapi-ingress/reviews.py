"""The nodes of the fastapi-ingress example: a tokenizer that also streams, and a scorer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

_POSITIVE = frozenset({"good", "great", "love", "excellent", "tasty", "friendly", "fast"})
_NEGATIVE = frozenset({"bad", "awful", "hate", "slow", "cold", "rude", "bland"})


class Words:
    """Splits a review into lower-case words."""

    def split(self, text: str) -> list[str]:
        return [word.strip(".,!?;:").lower() for word in text.split() if word.strip(".,!?;:")]

    async def each(self, text: str) -> AsyncIterator[dict[str, object]]:
        """One item per word, as it is read (a generator: callers stream it)."""
        for index, word in enumerate(self.split(text)):
            await asyncio.sleep(0.01)  # stands in for work that produces one item at a time
            yield {"index": index, "word": word, "tone": _tone(word)}


class Sentiment:
    """Scores a review's words: +1 for each positive word, -1 for each negative one."""

    def score(self, words: list[str]) -> dict[str, object]:
        score = sum(_tone(word) for word in words)
        label = "positive" if score > 0 else "negative" if score < 0 else "neutral"
        return {"score": score, "label": label, "words": len(words)}


def _tone(word: str) -> int:
    return 1 if word in _POSITIVE else -1 if word in _NEGATIVE else 0
