"""A picture as a Mermaid flowchart, which GitHub and most docs sites render as they show it."""

from __future__ import annotations

from braid.drawing._pictures import Kind, Picture, Style, Vertex

#: Mermaid's shape brackets per kind: stadium, box, rhombus, subroutine, note.
_SHAPES = {
    Kind.INPUT: ("([", "])"),
    Kind.OUTPUT: ("([", "])"),
    Kind.STEP: ("[", "]"),
    Kind.CASE: ("[", "]"),
    Kind.DISPATCH: ("{", "}"),
    Kind.SUBGRAPH: ("[[", "]]"),
    Kind.HANDLE: ("[[", "]]"),
    Kind.PROBLEMS: ("[/", "/]"),
}
_PROBLEM_STYLE = "fill:#fde8e8,stroke:#c62828,color:#7f1d1d"
_HANDLE_STYLE = "fill:#f5f5f5,stroke:#888,stroke-dasharray:4 3"
_SUBGRAPH_STYLE = "fill:#eef7ee,stroke:#2e7d32,stroke-width:2px"
_SOFT_STYLE = "stroke-dasharray:6 4"


def to_mermaid(picture: Picture) -> str:
    """The Mermaid text of ``picture`` (``flowchart TB``), ending with a newline."""
    lines = ["flowchart TB"]
    clustered = {member for cluster in picture.clusters for member in cluster.members}
    for vertex in picture.vertices:
        if vertex.id not in clustered:
            lines.append(f"  {_shape(vertex)}")
    for cluster in picture.clusters:
        lines.append(f'  subgraph {cluster.id}["{_text(cluster.title)}"]')
        lines.extend(f"    {_shape(picture.vertex(member))}" for member in cluster.members)
        lines.append("  end")
    for arrow in picture.arrows:
        lines.append(f"  {arrow.source} {_link(arrow.style, arrow.label)} {arrow.target}")
    handles = [vertex.id for vertex in picture.vertices if vertex.kind is Kind.HANDLE]
    subgraphs = [vertex.id for vertex in picture.vertices if vertex.kind is Kind.SUBGRAPH]
    marked = [vertex.id for vertex in picture.vertices if vertex.problems]
    soft = [vertex.id for vertex in picture.vertices if vertex.soft and not vertex.problems]
    if soft:
        lines.append(f"  classDef soft {_SOFT_STYLE}")
        lines.append(f"  class {','.join(soft)} soft")
    if handles:
        lines.append(f"  classDef handle {_HANDLE_STYLE}")
        lines.append(f"  class {','.join(handles)} handle")
    if subgraphs:
        lines.append(f"  classDef graphstep {_SUBGRAPH_STYLE}")
        lines.append(f"  class {','.join(subgraphs)} graphstep")
    if marked:
        lines.append(f"  classDef problem {_PROBLEM_STYLE}")
        lines.append(f"  class {','.join(marked)} problem")
    return "\n".join(lines) + "\n"


def _shape(vertex: Vertex) -> str:
    opening, closing = _SHAPES[vertex.kind]
    label = "<br/>".join(_text(line) for line in vertex.lines)
    return f'{vertex.id}{opening}"{label}"{closing}'


def _link(style: Style, label: str) -> str:
    if style is Style.HANDLE:
        return "-.->" if not label else f'-. "{_text(label)}" .->'
    if style is Style.CASE:
        return "-.->" if not label else f'-. "{_text(label)}" .->'
    return "-->" if not label else f'-- "{_text(label)}" -->'


def _text(text: str) -> str:
    """Text inside a quoted Mermaid label: its entity codes for the characters it would read."""
    return (
        text.replace("#", "#35;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", " ")
    )
