"""Turns the model server's KServe v1 response into a label."""

from __future__ import annotations

from typing import Any


def to_label(response: dict[str, Any]) -> dict[str, Any]:
    score = float(response["predictions"][0])
    label = "positive" if score > 0.5 else "negative" if score < 0.5 else "neutral"
    return {"label": label, "score": score}
