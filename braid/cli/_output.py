"""Small helpers for what commands print: errors on stderr as ``braid: ...``."""

from __future__ import annotations

import sys


def fail(message: str, code: int = 1) -> int:
    """Print ``braid: message`` on standard error and return ``code``."""
    print(f"braid: {message}", file=sys.stderr)
    return code
