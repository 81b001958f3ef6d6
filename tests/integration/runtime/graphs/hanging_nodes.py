"""A node whose sync method never returns, beside fast ones (tests of stuck threads)."""

from __future__ import annotations

import time


class Hanging:
    def hang(self, value: int) -> int:
        time.sleep(3600)
        return value

    def fast(self, value: int) -> int:
        return value

    async def fast_async(self, value: int) -> int:
        return value
