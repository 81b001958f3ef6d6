"""Structured outputs and intermediate results: values the ingress gathers from several steps.

A plain output is one reference, and its step returns its value in its reply. A structured
output (``flow.output`` a map or list of references) and the intermediate results a request
asks for (``flow.expose``) are different: the ingress fetches each step's stored result once,
like any other consumer, and fills the template itself. The steps so count one more consumer:
always for a structured output's steps (planned), and per request for the intermediates asked
for (a request that asks for none stores nothing more).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from braid.runtime._wire.errors import BadRequest
from braid.spec import Reference, iter_references, parse_reference, substitute

#: The HTTP header that asks for intermediate results: step names, comma-separated.
INTERMEDIATES_HEADER = "x-braid-intermediates"


def template_sources(template: Any, step_names: Collection[str]) -> tuple[str, ...]:
    """The distinct steps a structured output refers to, in the order they appear."""
    found: dict[str, None] = {}
    for _, text in iter_references(template):
        reference = parse_reference(text)
        if reference is not None and reference.source in step_names:
            found[reference.source] = None
    return tuple(found)


def first_reference(template: Any) -> Reference:
    """The template's first reference (names the output in messages)."""
    for _, text in iter_references(template):
        reference = parse_reference(text)
        if reference is not None:
            return reference
    raise ValueError("the output has no reference")  # validation rules this out


def assemble(template: Any, values: Mapping[str, Any], *, flow_input: str, input_value: Any) -> Any:
    """The template with every reference replaced: steps from ``values``, the input inline.

    A path that does not exist raises ``LookupError`` naming it.
    """

    def resolve(reference: Reference) -> Any:
        source = input_value if reference.source == flow_input else values[reference.source]
        return reference.pick(source)

    return substitute(template, resolve)


def parse_intermediates(text: str | None) -> tuple[str, ...]:
    """Step names from the ``X-Braid-Intermediates`` header: comma-separated, blanks ignored."""
    if not text:
        return ()
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def check_intermediates(names: Iterable[str], exposed: Collection[str], graph: str) -> None:
    """Refuse intermediates the graph does not expose (a :class:`BadRequest` naming them)."""
    refused = [name for name in names if name not in exposed]
    if not refused:
        return
    shown = ", ".join(f'"{name[:64]}"' for name in refused[:5])
    allowed = ", ".join(sorted(exposed)) or "none"
    raise BadRequest(
        f'graph "{graph}" does not expose {shown}: a request may ask only for the steps in '
        f"spec.flow.expose ({allowed})"
    )
