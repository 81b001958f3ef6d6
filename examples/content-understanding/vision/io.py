"""Downloads an image. ``synthetic://<seed>`` makes a deterministic test image without network."""

from __future__ import annotations

import hashlib
import urllib.request

import numpy as np

SIDE = 96


class Downloader:
    def __init__(self, timeout_seconds: float = 5) -> None:
        self.timeout_seconds = timeout_seconds

    def fetch(self, url: str) -> bytes:
        if url.startswith("synthetic://"):
            return synthetic_image(url.removeprefix("synthetic://"))
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"unsupported URL {url!r}: use http(s):// or synthetic://SEED")
        with urllib.request.urlopen(url, timeout=self.timeout_seconds) as response:
            return bytes(response.read())


def synthetic_image(seed: str) -> bytes:
    """A SIDE x SIDE RGB image as raw bytes, the same for the same seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    image = rng.integers(0, 256, size=(SIDE, SIDE, 3), dtype=np.uint8)
    image[..., digest[8] % 3] //= 4  # one channel is darker, so the dominant colour varies
    return image.tobytes()
