"""Tracing for the commands that serve requests (``sidecar``, ``worker``, ``ingress``).

The settings come from the standard ``OTEL_*`` variables, read here and nowhere else in braid
(docs/decisions/0020-tracing.md); without them nothing is set up and nothing is imported.
"""

from __future__ import annotations

import os

from braid.runtime._wire import tracing


def start(role: str, **attributes: str | None) -> None:
    """Turn tracing on for this process if the environment asks for it. ``role`` names the
    default service (``braid-sidecar``...); ``attributes`` (``braid.node``, ``braid.replica``)
    go on the process's spans. Raises ``TracingError`` with what to fix."""
    settings = tracing.TracingSettings.from_environ(os.environ)
    tracing.configure(
        settings,
        service=f"braid-{role}",
        attributes={f"braid.{key}": value for key, value in attributes.items() if value},
    )
