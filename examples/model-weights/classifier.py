"""A classifier that loads its word weights from a mounted volume, else uses built-in ones.

In Kubernetes the weights come from the PersistentVolumeClaim mounted at /models; with
`braid run` there is no volume, and the class falls back to its own small table.
"""

from __future__ import annotations

import json
from pathlib import Path

BUILT_IN = {"good": 1.0, "great": 1.0, "love": 1.0, "bad": -1.0, "awful": -1.0, "hate": -1.0}


class Classifier:
    def __init__(self, weights_dir: str) -> None:
        table = Path(weights_dir) / "weights.json"
        self.weights = json.loads(table.read_text()) if table.is_file() else dict(BUILT_IN)
        self.source = str(table) if table.is_file() else "built-in"

    def classify(self, text: str) -> dict[str, object]:
        score = sum(self.weights.get(word, 0.0) for word in text.lower().split())
        label = "positive" if score > 0 else "negative" if score < 0 else "neutral"
        return {"label": label, "score": score, "weights": self.source}
