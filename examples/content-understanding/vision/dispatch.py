"""Sends an image to one classifier, chosen from its dominant colour, through handles."""

from __future__ import annotations

from typing import Any

import numpy as np


class Dispatcher:
    def __init__(self, fruit: Any, car: Any, general: Any) -> None:
        self.by_channel = {0: fruit, 2: car}
        self.general = general

    async def route(self, image: np.ndarray, hint: str = "") -> dict[str, Any]:
        channel = int(np.argmax(image.mean(axis=(0, 1))))
        classifier = self.by_channel.get(channel, self.general)
        return await classifier.classify.remote(image, hint)
