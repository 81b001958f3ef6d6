"""A picture in Graphviz's DOT language, for ``dot -Tsvg`` or ``-Tpng`` and other DOT tools."""

from __future__ import annotations

from braid.drawing._pictures import Kind, Picture, Style, Vertex

_SHAPES = {
    Kind.INPUT: 'shape=oval, style="filled", fillcolor="#e8f0fe"',
    Kind.OUTPUT: 'shape=oval, style="filled", fillcolor="#e8f0fe"',
    Kind.STEP: 'shape=box, style="rounded"',
    Kind.CASE: 'shape=box, style="rounded"',
    Kind.DISPATCH: "shape=diamond",
    Kind.SUBGRAPH: 'shape=box, peripheries=2, style="filled", fillcolor="#eef7ee"',
    Kind.HANDLE: 'shape=component, style="dashed"',
    Kind.PROBLEMS: "shape=note",
}
_ARROWS = {Style.DATA: "", Style.CASE: "style=dotted", Style.HANDLE: "style=dashed"}


def to_dot(picture: Picture) -> str:
    """The DOT text of ``picture`` (a ``digraph``), ending with a newline."""
    lines = [
        f"digraph {_quote(picture.name)} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    clustered = {member for cluster in picture.clusters for member in cluster.members}
    lines.extend(f"  {_vertex(v)}" for v in picture.vertices if v.id not in clustered)
    for cluster in picture.clusters:
        lines.append(f"  subgraph cluster_{cluster.id} {{")
        lines.append(f'    label={_quote(cluster.title)}; style="rounded,dashed";')
        lines.extend(f"    {_vertex(picture.vertex(member))}" for member in cluster.members)
        lines.append("  }")
    for arrow in picture.arrows:
        attributes = [_ARROWS[arrow.style]] if _ARROWS[arrow.style] else []
        if arrow.label:
            attributes.append(f"label={_quote(arrow.label)}")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {arrow.source} -> {arrow.target}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _vertex(vertex: Vertex) -> str:
    attributes = [f"label={_quote(chr(10).join(vertex.lines))}", _SHAPES[vertex.kind]]
    if vertex.soft:
        attributes[1] = attributes[1].replace('style="rounded"', 'style="rounded,dashed"')
        if "style=" not in attributes[1]:
            attributes.append('style="dashed"')
    if vertex.problems:
        attributes.append('color="#c62828", fontcolor="#7f1d1d", penwidth=2')
    return f"{vertex.id} [{', '.join(attributes)}];"


def _quote(text: str) -> str:
    """A DOT double-quoted string; a newline becomes DOT's centred line break."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
