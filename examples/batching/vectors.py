"""A vectorised numpy model whose cost is per call more than per item, so batching pays.

``Scorer.score`` is declared with ``batching`` in graph.yaml: braid calls it with a list of
inputs (one per request) and hands item i of the returned list back to request i. The model is
a deep stack of narrow layers, so a forward pass costs about the same for 1 input as for 32: its
time goes to the per-layer overhead (as a GPU's goes to kernel launches), and one matrix product
per layer serves the whole batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Scorer:
    """A residual perceptron with fixed random weights (seeded, so answers are stable)."""

    def __init__(self, width: int = 64, depth: int = 2000, classes: int = 10) -> None:
        rng = np.random.default_rng(0)
        scale = np.float32(0.5 / np.sqrt(width))
        self.width = width
        self.layers = [
            rng.standard_normal((width, width), dtype=np.float32) * scale for _ in range(depth)
        ]
        self.out = rng.standard_normal((width, classes), dtype=np.float32) * scale

    def score(self, batch: list[Any]) -> list[dict[str, Any]]:
        """Score a batch of inputs: each a number or a list of numbers (tiled to the width)."""
        rows = np.stack(
            [np.resize(np.asarray(item, dtype=np.float32), self.width) for item in batch]
        )
        for weights in self.layers:
            rows = rows + np.tanh(rows @ weights)
        logits = rows @ self.out
        labels = logits.argmax(axis=1)
        return [
            {"label": int(label), "logit": round(float(row[label]), 3)}
            for label, row in zip(labels, logits, strict=True)
        ]
