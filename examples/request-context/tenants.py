"""Node code that reads the request's context: its id, deadline and allowed headers."""

from typing import Any

import braid


class Greeter:
    def __init__(self, audit: Any) -> None:
        self.audit = audit  # a handle: its calls carry this request's context onward

    async def greet(self, name: str) -> dict[str, Any]:
        context = braid.request_context()
        tenant = context.headers.get("x-tenant", "nobody")
        context.set_response_header("x-request-id", context.request_id)
        seconds = context.deadline_remaining
        context.set_response_header("x-seconds-left", f"{seconds:.1f}" if seconds else "none")
        audit = await self.audit.record.remote(name)
        return {
            "greeting": f"Hello, {name} of {tenant}!",
            "headers": sorted(context.headers),
            "audit": audit,
        }


class Audit:
    def record(self, name: str) -> str:
        # A sync method runs in a thread of its own; the context comes with it.
        context = braid.request_context()
        context.set_response_header("x-audited-by", "audit")
        return f"{name} audited for {context.headers.get('x-tenant', 'nobody')}"
