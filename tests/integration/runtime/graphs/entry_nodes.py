"""Nodes of the entry-in-ingress tests (decision 0024): each hop says which process ran it; the
first one can also raise, hang its sync thread, or pass bytes on."""

from __future__ import annotations

import os
import time
from typing import Any


class First:
    def run(self, value: Any) -> dict[str, Any]:
        """A sync method (it runs in the replica's threads): raises or hangs on request."""
        if value == "raise":
            raise ValueError("the first step refuses this value")
        if value == "hang":
            time.sleep(3600)
        return {"value": value, "first": os.getpid()}


class Second:
    async def run(self, found: dict[str, Any]) -> dict[str, Any]:
        return {**found, "second": os.getpid()}


class Pass:
    async def forward(self, value: bytes) -> bytes:
        return value
