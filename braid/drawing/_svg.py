"""A picture as a standalone SVG, laid out by grandalf's Sugiyama layout (no Graphviz needed).

grandalf places the vertices in layers and routes long arrows through dummy points; this module
only measures the text, draws the shapes, clips each arrow at the borders of its two shapes, and
writes SVG. Text is monospaced so that its width can be measured without a font library.

Every vertex is a ``<g class="vertex KIND" id="v-ID">``; with ``figures=True`` a vertex that
runs a node also gets ``data-node="NAME"`` and two empty ``<text class="figures">`` lines, which
the live page (``/-/graph``) fills with the node's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from braid.drawing._pictures import Arrow, Kind, Picture, Style, Vertex

FONT_SIZE = 12
#: The advance of one character of a 12 px monospaced font (0.6 em), and a line's height.
CHAR_WIDTH = 7.3
LINE_HEIGHT = 16.0
PADDING = 10.0
#: Characters reserved per figures line, so that live figures fit their shape.
FIGURES_WIDTH = 34
MARGIN = 20.0
COMPONENT_GAP = 40.0

_FILL = {
    Kind.INPUT: "#e8f0fe",
    Kind.OUTPUT: "#e8f0fe",
    Kind.STEP: "#ffffff",
    Kind.CASE: "#ffffff",
    Kind.DISPATCH: "#fff8e1",
    Kind.SUBGRAPH: "#eef7ee",
    Kind.HANDLE: "#f5f5f5",
    Kind.PROBLEMS: "#fde8e8",
}
_STYLE = """
  text { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, monospace; font-size: 12px; }
  .vertex > .shape { stroke: #455a64; stroke-width: 1.2; }
  .vertex.handle > .shape { stroke-dasharray: 5 3; }
  .vertex.soft > .shape { stroke-dasharray: 6 4; }
  .vertex.problem > .shape { stroke: #c62828; stroke-width: 2.4; }
  .vertex .title { font-weight: bold; }
  .vertex .problem-text { fill: #b71c1c; }
  .vertex .figures { fill: #1b5e20; }
  .arrow { fill: none; stroke: #546e7a; stroke-width: 1.2; }
  .arrow.handle { stroke-dasharray: 5 3; }
  .arrow.case { stroke-dasharray: 2 3; }
  .arrow-label { fill: #37474f; font-size: 11px; }
  .cluster-label { fill: #6a1b9a; font-size: 11px; }
"""


@dataclass
class _Box:
    """A vertex's size, and its centre once placed."""

    w: float
    h: float
    xy: tuple[float, float] = (0.0, 0.0)


class _Route:
    """What grandalf needs of an edge's view: somewhere to put the route's points."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[Any]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


def to_svg(picture: Picture, *, figures: bool = False) -> str:
    """A standalone SVG document of ``picture``."""
    boxes = {vertex.id: _Box(*_size(vertex, figures)) for vertex in picture.vertices}
    routes = _lay_out(picture, boxes)
    xs = [x for box in boxes.values() for x in (box.xy[0] - box.w / 2, box.xy[0] + box.w / 2)]
    ys = [y for box in boxes.values() for y in (box.xy[1] - box.h / 2, box.xy[1] + box.h / 2)]
    xs += [x for route in routes for x, _ in route]
    ys += [y for route in routes for _, y in route]
    for index in range(len(picture.clusters)):
        left, top, right, bottom = _cluster_rect(picture, boxes, index)
        xs += [left, right]
        ys += [top, bottom]
    left, right = min(xs) - MARGIN, max(xs) + MARGIN
    top, bottom = min(ys) - MARGIN - LINE_HEIGHT, max(ys) + MARGIN
    width, height = right - left, bottom - top
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="{left:.1f} {top:.1f} {width:.1f} {height:.1f}" '
        f'width="{width:.0f}" height="{height:.0f}" class="braid-graph">',
        f"<title>{escape(picture.name)}</title>",
        f"<style>{_STYLE}</style>",
        '<defs><marker id="tip" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#546e7a"/></marker>'
        "</defs>",
    ]
    parts.extend(_cluster(picture, boxes, index) for index in range(len(picture.clusters)))
    kinds = {vertex.id: vertex.kind for vertex in picture.vertices}
    for arrow, points in zip(picture.arrows, routes, strict=True):
        parts.append(_arrow(arrow, points, boxes, kinds))
    parts.extend(_vertex(vertex, boxes[vertex.id], figures) for vertex in picture.vertices)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _size(vertex: Vertex, figures: bool) -> tuple[float, float]:
    lines = vertex.lines
    longest = max(len(line) for line in lines)
    count = len(lines)
    if figures and vertex.node is not None:
        longest, count = max(longest, FIGURES_WIDTH), count + 2
    width = longest * CHAR_WIDTH + 2 * PADDING
    height = count * LINE_HEIGHT + 2 * PADDING
    if vertex.kind is Kind.DISPATCH:
        return width * 1.5, height * 1.6  # the text must fit inside the rhombus
    return width, height


def _lay_out(picture: Picture, boxes: dict[str, _Box]) -> list[list[tuple[float, float]]]:
    """Place every box and return each arrow's route, components side by side."""
    # Imported here: grandalf's layouts import numpy, which every braid process would otherwise
    # load for a picture that few of them ever draw (idle memory, docs/benchmarks.md).
    from grandalf.graphs import Edge, Graph  # noqa: PLC0415
    from grandalf.graphs import Vertex as LayoutVertex  # noqa: PLC0415
    from grandalf.layouts import SugiyamaLayout  # noqa: PLC0415

    vertices = {vertex.id: LayoutVertex(vertex.id) for vertex in picture.vertices}
    for vertex_id, layout_vertex in vertices.items():
        layout_vertex.view = boxes[vertex_id]
    edges = []
    for arrow in picture.arrows:
        edge = Edge(vertices[arrow.source], vertices[arrow.target])
        edge.view = _Route()
        edges.append(edge)
    graph = Graph(list(vertices.values()), edges)
    offset = 0.0
    for component in graph.C:
        layout = SugiyamaLayout(component)
        layout.xspace, layout.yspace = 30, 40
        layout.init_all()
        layout.draw()
        placed = [v.view for v in component.sV]
        low = min(box.xy[0] - box.w / 2 for box in placed)
        high = max(box.xy[0] + box.w / 2 for box in placed)
        shift = offset - low
        for box in placed:
            box.xy = (box.xy[0] + shift, box.xy[1])
        for edge in component.sE:
            edge.view.points = [(x + shift, y) for x, y in edge.view.points]
        offset += high - low + COMPONENT_GAP
    return [edge.view.points or _straight(edge) for edge in edges]


def _straight(edge: Any) -> list[tuple[float, float]]:
    """A route for an edge grandalf left without one (a self-loop): from centre to centre."""
    return [edge.v[0].view.xy, edge.v[1].view.xy]


def _clip(
    inside: tuple[float, float], outside: tuple[float, float], box: _Box, kind: Kind
) -> tuple[float, float]:
    """Where the segment from the shape's centre towards ``outside`` leaves the shape."""
    (cx, cy), (ox, oy) = inside, outside
    dx, dy = ox - cx, oy - cy
    if dx == 0 and dy == 0:
        return inside
    half_w, half_h = box.w / 2, box.h / 2
    if kind is Kind.DISPATCH:  # a rhombus: |x| / half_w + |y| / half_h = 1
        scale = 1 / (abs(dx) / half_w + abs(dy) / half_h)
    else:
        scale = min(
            half_w / abs(dx) if dx else float("inf"), half_h / abs(dy) if dy else float("inf")
        )
    return (cx + dx * min(scale, 1.0), cy + dy * min(scale, 1.0))


def _arrow(
    arrow: Arrow, points: list[tuple[float, float]], boxes: dict[str, _Box], kinds: dict[str, Kind]
) -> str:
    source, target = boxes[arrow.source], boxes[arrow.target]
    points = list(points) or [source.xy, target.xy]
    if len(points) == 1:
        points.append(target.xy)
    points[0] = _clip(source.xy, points[1], source, kinds[arrow.source])
    points[-1] = _clip(target.xy, points[-2], target, kinds[arrow.target])
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    css = "arrow" if arrow.style is Style.DATA else f"arrow {arrow.style.value}"
    parts = [f'<polyline class="{css}" points="{path}" marker-end="url(#tip)"/>']
    if arrow.label:
        middle = len(points) // 2
        (x1, y1), (x2, y2) = points[middle - 1], points[middle]
        x, y = (x1 + x2) / 2 + 4, (y1 + y2) / 2
        parts.append(
            f'<text class="arrow-label" x="{x:.1f}" y="{y:.1f}">{escape(arrow.label)}</text>'
        )
    return "\n".join(parts)


def _cluster_rect(
    picture: Picture, boxes: dict[str, _Box], index: int
) -> tuple[float, float, float, float]:
    """Left, top, right and bottom of a cluster: its members, and room for its title."""
    cluster = picture.clusters[index]
    members = [boxes[member] for member in cluster.members]
    left = min(box.xy[0] - box.w / 2 for box in members) - 8
    top = min(box.xy[1] - box.h / 2 for box in members) - 8 - LINE_HEIGHT
    right = max(box.xy[0] + box.w / 2 for box in members) + 8
    right = max(right, left + 12 + len(cluster.title) * CHAR_WIDTH * 11 / FONT_SIZE)
    bottom = max(box.xy[1] + box.h / 2 for box in members) + 8
    return left, top, right, bottom


def _cluster(picture: Picture, boxes: dict[str, _Box], index: int) -> str:
    cluster = picture.clusters[index]
    left, top, right, bottom = _cluster_rect(picture, boxes, index)
    return (
        f'<g class="cluster" id="c-{cluster.id}">'
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" '
        f'height="{bottom - top:.1f}" rx="8" fill="#f3e5f5" fill-opacity="0.5" stroke="#8e24aa" '
        'stroke-dasharray="6 4"/>'
        f'<text class="cluster-label" x="{left + 6:.1f}" y="{top + 12:.1f}">'
        f"{escape(cluster.title)}</text></g>"
    )


def _vertex(vertex: Vertex, box: _Box, figures: bool) -> str:
    x, y = box.xy
    css = f"vertex {vertex.kind.value}" + (" problem" if vertex.problems else "")
    css += " soft" if vertex.soft else ""
    node = f' data-node="{escape(vertex.node)}"' if vertex.node is not None else ""
    parts = [f'<g class="{css}" id="v-{vertex.id}"{node}>', _shape(vertex.kind, box)]
    lines = [(line, "line") for line in vertex.lines]
    lines[0] = (lines[0][0], "title")
    lines = [(text, "problem-text" if text.startswith("! ") else css_) for text, css_ in lines]
    if figures and vertex.node is not None:
        lines += [("", "figures"), ("", "figures")]
    first = y - (len(lines) - 1) * LINE_HEIGHT / 2 + FONT_SIZE / 3
    for number, (text, line_css) in enumerate(lines):
        parts.append(
            f'<text class="{line_css}" x="{x:.1f}" y="{first + number * LINE_HEIGHT:.1f}" '
            f'text-anchor="middle">{escape(text)}</text>'
        )
    parts.append("</g>")
    return "\n".join(parts)


def _shape(kind: Kind, box: _Box) -> str:
    x, y, w, h = box.xy[0], box.xy[1], box.w, box.h
    fill = _FILL[kind]
    if kind is Kind.DISPATCH:
        corners = ((x, y - h / 2), (x + w / 2, y), (x, y + h / 2), (x - w / 2, y))
        points = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in corners)
        return f'<polygon class="shape" points="{points}" fill="{fill}"/>'
    radius = h / 2 if kind in (Kind.INPUT, Kind.OUTPUT) else 6
    rect = (
        f'<rect class="shape" x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" '
        f'height="{h:.1f}" rx="{radius:.1f}" fill="{fill}"/>'
    )
    if kind is Kind.SUBGRAPH:  # a double border: a whole graph stands behind the step
        inset = 4.0
        rect += (
            f'<rect class="shape inner" x="{x - w / 2 + inset:.1f}" '
            f'y="{y - h / 2 + inset:.1f}" width="{w - 2 * inset:.1f}" '
            f'height="{h - 2 * inset:.1f}" rx="{radius - 2:.1f}" fill="none"/>'
        )
    return rect
