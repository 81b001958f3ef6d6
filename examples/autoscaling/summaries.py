"""Two nodes for the autoscaling example: a cheap front that cleans the text, and a summarizer
that stands for a model: slow per request, so that load piles up and more replicas help."""

from __future__ import annotations

import asyncio


def clean(text: str) -> str:
    """Collapse whitespace (the cheap step in front of the model)."""
    return " ".join(text.split())


class Summarizer:
    """A stand-in model: each call takes ``seconds`` (the forward pass) and keeps the first
    ``words`` words."""

    def __init__(self, words: int = 8, seconds: float = 0.2) -> None:
        self.words, self.seconds = words, seconds

    async def summarize(self, text: str) -> str:
        await asyncio.sleep(self.seconds)
        words = text.split()
        return " ".join(words[: self.words]) + (" ..." if len(words) > self.words else "")
