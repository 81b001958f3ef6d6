"""Weighted traffic splits: which case of a ``split`` step a request goes to.

A split with a key (a reference, or a request header) hashes the key's text with SHA-256 and
maps the hash onto the cases' weights, so the same key always gets the same case, in every
ingress replica and across restarts; over many distinct keys the shares follow the weights.
A split without a key, or a request that lacks the header, draws at random (the runner's own
``random.Random``, seeded from the OS).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from typing import Any

#: Bits of the hash that place a key on [0, 1): far more than any weight total needs.
_HASH_BITS = 64


def split_point(key: Any) -> float:
    """Where ``key`` falls on [0, 1): a stable hash of its text (JSON for non-strings)."""
    text = key if isinstance(key, str) else json.dumps(key, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[: _HASH_BITS // 8], "big") / float(1 << _HASH_BITS)


def choose_weighted(weights: Sequence[int], point: float) -> int:
    """The index of the case that ``point`` (on [0, 1)) falls into, by cumulative weight."""
    total = sum(weights)
    target = point * total
    running = 0
    last = 0
    for index, weight in enumerate(weights):
        if weight <= 0:
            continue
        running += weight
        last = index
        if target < running:
            return index
    return last  # a point of (almost) 1.0 rounding up: the last case with a weight


def choose_split(weights: Sequence[int], key: Any, rng: random.Random) -> int:
    """A split's case for a request: by ``key`` when there is one, else at random."""
    point = rng.random() if key is None else split_point(key)
    return choose_weighted(weights, point)
