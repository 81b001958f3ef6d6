"""Nodes for the tracing tests: sync user code (run in a thread) that calls a handle, plain
and streaming, and reports the trace it runs in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from opentelemetry import trace


class Front:
    def __init__(self, back: Any) -> None:
        self.back = back

    def relay(self, count: int) -> dict[str, Any]:
        doubled = self.back.double.remote(count).result()
        items = list(self.back.options(stream=True).count.remote(count))
        context = trace.get_current_span().get_span_context()
        return {"doubled": doubled, "items": items, "trace_id": f"{context.trace_id:032x}"}


class Back:
    def double(self, value: int) -> int:
        return 2 * value

    async def count(self, limit: int) -> AsyncIterator[int]:
        for item in range(limit):
            yield item
