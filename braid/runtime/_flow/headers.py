"""Which request headers reach node code.

Request headers stay at the ingress unless ``spec.ingress.forwardHeaders`` names them (exactly,
or by a prefix ending in ``*``); the ones let through travel in every ``CallRequest.context``.
(Response headers that node code sets are checked where it sets them, in
:mod:`braid.runtime._replica.contexts`.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def allowed_headers(headers: Mapping[str, str], allow: Iterable[str]) -> dict[str, str]:
    """The request headers that ``allow`` (names, or ``prefix*``) lets through, lower-cased."""
    patterns = tuple(allow)
    if not patterns:
        return {}
    exact = {name for name in patterns if not name.endswith("*")}
    prefixes = tuple(name[:-1] for name in patterns if name.endswith("*"))
    found = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.endswith("-bin"):  # binary gRPC metadata is not a header
            continue
        if lower in exact or (prefixes and lower.startswith(prefixes)):
            found[lower] = value
    return found
