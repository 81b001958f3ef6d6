"""Every example drawn in every format: the picture holds the flow, and the READMEs are current.

New examples are picked up by the glob; an example whose README lacks its graph block fails here
with the command that writes it.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pydot
import pytest

from braid.cli._graph import begin_marker, draw, mermaid_block
from braid.drawing import Kind, Picture, Style, to_dot, to_mermaid, to_svg
from braid.spec import iter_references, load_graph, parse_call, step_dependencies

ROOT = Path(__file__).parents[3]
MANIFESTS = sorted((ROOT / "examples").glob("*/graph*.yaml"))
IDS = [str(path.relative_to(ROOT / "examples")) for path in MANIFESTS]


def test_every_example_is_drawn() -> None:
    assert len(MANIFESTS) >= 12, IDS


def _producers(picture: Picture, source: str, step_names: set[str]) -> set[str]:
    """The vertices an arrow for a reference to ``source`` may start from."""
    if source not in step_names:
        return {"input"}
    step_vertex = next(
        v.id
        for v in picture.vertices
        if v.title == source and v.kind in (Kind.STEP, Kind.DISPATCH, Kind.SUBGRAPH)
    )
    cases = {a.target for a in picture.arrows if a.source == step_vertex and a.style is Style.CASE}
    return cases or {step_vertex}


@pytest.mark.parametrize("path", MANIFESTS, ids=IDS)
def test_the_picture_holds_every_step_reference_handle_and_the_output(path: Path) -> None:
    graph = load_graph(path)
    picture = draw(str(path))
    assert picture.valid and not picture.problems
    titles = {(v.title, v.kind) for v in picture.vertices}
    arrows = {(a.source, a.target) for a in picture.arrows}
    step_names = {step.name for step in graph.spec.flow.steps}
    for step in graph.spec.flow.steps:
        kind = Kind.DISPATCH if step.dispatch is not None or step.split is not None else Kind.STEP
        if step.graph is not None:
            kind = Kind.SUBGRAPH
        assert (step.name, kind) in titles
        vertex = next(v for v in picture.vertices if v.title == step.name and v.kind is kind)
        if step.graph is not None:
            assert vertex.detail == f"graph: {step.graph}" and vertex.node is None
        if step.call is not None:
            assert vertex.detail == step.call
            assert vertex.node == parse_call(step.call).node
        for source in step_dependencies(step):
            targets = {vertex.id} | {
                a.target for a in picture.arrows if a.source == vertex.id and a.style is Style.CASE
            }
            assert any(
                (producer, target) in arrows
                for producer in _producers(picture, source, step_names)
                for target in targets
            ), (step.name, source)
    for _, text in iter_references(graph.spec.flow.output):  # one, or a structured output's
        output_source = text.removeprefix("$").split(".")[0]
        for producer in _producers(picture, output_source, step_names):
            assert (producer, "output") in arrows
    called = {v.node for v in picture.vertices if v.node is not None}
    for node in graph.spec.nodes:
        if node.name in called:
            for held in node.handles:
                assert any(
                    a.style is Style.HANDLE and picture.vertex(a.target).title == held
                    for a in picture.arrows
                ), (node.name, held)


@pytest.mark.parametrize("path", MANIFESTS, ids=IDS)
def test_the_mermaid_text_declares_every_vertex_and_arrow(path: Path) -> None:
    picture = draw(str(path))
    text = to_mermaid(picture)
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    for vertex in picture.vertices:
        assert any(
            line.strip().startswith(f'{vertex.id}["')
            or line.strip().startswith((f'{vertex.id}(["', f'{vertex.id}{{"', f'{vertex.id}[["'))
            for line in lines
        ), vertex.id
    arrow_lines = [line for line in lines if "-->" in line or ".->" in line]
    assert len(arrow_lines) == len(picture.arrows)
    handle_lines = [line for line in arrow_lines if "-.->" in line or ".->" in line]
    dashed = [a for a in picture.arrows if a.style is not Style.DATA]
    assert len(handle_lines) == len(dashed)
    groups = load_graph(path).spec.groups
    assert text.count("subgraph ") == len(groups)


@pytest.mark.parametrize("path", MANIFESTS, ids=IDS)
def test_the_dot_text_parses_with_pydot_into_the_same_graph(path: Path) -> None:
    picture = draw(str(path))
    (parsed,) = pydot.graph_from_dot_data(to_dot(picture))
    names = {node.get_name() for node in parsed.get_nodes()} - {"node", "edge"}
    for cluster in parsed.get_subgraphs():
        names |= {node.get_name() for node in cluster.get_nodes()}
    assert names == {vertex.id for vertex in picture.vertices}
    edges = [(edge.get_source(), edge.get_destination()) for edge in parsed.get_edges()]
    assert sorted(edges) == sorted((a.source, a.target) for a in picture.arrows)
    dashed = [e for e in parsed.get_edges() if e.get_style() == "dashed"]
    assert len(dashed) == sum(1 for a in picture.arrows if a.style is Style.HANDLE)


@pytest.mark.parametrize("path", MANIFESTS, ids=IDS)
def test_the_svg_is_well_formed_with_a_shape_per_vertex_and_no_overlaps(path: Path) -> None:
    picture = draw(str(path))
    root = ElementTree.fromstring(to_svg(picture))
    space = "{http://www.w3.org/2000/svg}"
    groups = {
        g.get("id"): g for g in root.iter(f"{space}g") if g.get("class", "").startswith("vertex")
    }
    assert set(groups) == {f"v-{vertex.id}" for vertex in picture.vertices}
    assert len(list(root.iter(f"{space}polyline"))) == len(picture.arrows)
    boxes = []
    for group in groups.values():
        shape = group.find(f"{space}rect")
        if shape is not None:
            x, y = float(shape.get("x", 0)), float(shape.get("y", 0))
            boxes.append(
                (x, y, x + float(shape.get("width", 0)), y + float(shape.get("height", 0)))
            )
    for index, (l1, t1, r1, b1) in enumerate(boxes):
        for l2, t2, r2, b2 in boxes[index + 1 :]:
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, "two shapes overlap"


@pytest.mark.parametrize("path", MANIFESTS, ids=IDS)
def test_the_readme_shows_the_current_picture(path: Path) -> None:
    readme = (path.parent / "README.md").read_text()
    fix = f"run: braid graph {path.relative_to(ROOT)} --readme {path.parent.relative_to(ROOT)}/README.md"
    assert begin_marker(str(path)) in readme, (
        f"the README has no graph block; add the markers and {fix}"
    )
    assert mermaid_block(str(path), draw(str(path))) in readme, (
        f"the README's graph is stale; {fix}"
    )
