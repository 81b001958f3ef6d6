"""A product page: a description, tags from a tagger that is sometimes slow or broken, and a
summary from a flaky summarizer with a plain fallback. The input says what goes wrong, so that
the README's requests show each failure path."""

from __future__ import annotations

import asyncio
from typing import Any


def describe(product: dict[str, Any]) -> str:
    return f"{product['name']}: {product.get('text', '')}".strip()


class Tagger:
    async def tags(self, product: dict[str, Any]) -> list[str]:
        if product.get("tagger") == "slow":
            await asyncio.sleep(30)  # longer than the step's timeoutSeconds
        if product.get("tagger") == "broken":
            raise RuntimeError("the tag model is not loaded")
        return sorted({word.lower() for word in product.get("text", "").split() if len(word) > 4})


class Summarizer:
    """A summarizer that is broken when asked to, or flaky: each replica fails the first time
    it sees a product, so a retry answers (from another replica, or this one again)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def summarize(self, description: str, product: dict[str, Any]) -> str:
        if product.get("summarizer") == "broken":
            raise RuntimeError("the summary model ran out of memory")
        if product.get("summarizer") == "flaky" and product["name"] not in self.seen:
            self.seen.add(product["name"])
            raise RuntimeError("a transient failure")
        return description[:40]


def first_sentence(description: str, product: dict[str, Any]) -> str:
    """The fallback summary: cheap and always there."""
    return description.split(".", maxsplit=1)[0]


def page(description: str, tags: list[str], summary: str) -> dict[str, Any]:
    return {"description": description, "tags": tags, "summary": summary}
