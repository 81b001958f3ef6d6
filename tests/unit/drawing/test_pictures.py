"""The rules of a picture: what each part of a flow becomes, and where problems are marked."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from braid.drawing import Kind, Picture, Style, picture_of, to_dot, to_mermaid, to_svg
from braid.spec import inspect_graph


def _manifest(
    nodes: list[dict[str, Any]], steps: list[dict[str, Any]], output: Any, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "braid.dev/v1alpha1",
        "kind": "DeploymentGraph",
        "metadata": {"name": "pic"},
        "spec": {
            "nodes": nodes,
            "flow": {"input": "req", "steps": steps, "output": output},
            **spec,
        },
    }


def _draw(document: dict[str, Any]) -> Picture:
    return picture_of(*inspect_graph(document))


def _arrows(picture: Picture) -> set[tuple[str, str, Style, str]]:
    return {(a.source, a.target, a.style, a.label) for a in picture.arrows}


def test_fan_out_and_a_join_with_keyword_and_field_labels() -> None:
    picture = _draw(
        _manifest(
            [{"name": n, "class": f"m:{n.upper()}"} for n in ("a", "b", "c", "d")],
            [
                {"name": "one", "call": "a.run", "args": ["$req"]},
                {"name": "two", "call": "b.run", "args": ["$one.x"]},
                {"name": "three", "call": "c.run", "args": ["$one"]},
                {
                    "name": "joined",
                    "call": "d",
                    "args": ["$two", ["$three"]],
                    "kwargs": {"raw": "$req.body"},
                },
            ],
            "$joined",
        )
    )
    assert picture.valid
    assert _arrows(picture) == {
        ("input", "s0", Style.DATA, ""),
        ("s0", "s1", Style.DATA, ".x"),
        ("s0", "s2", Style.DATA, ""),
        ("s1", "s3", Style.DATA, ""),
        ("s2", "s3", Style.DATA, ""),
        ("input", "s3", Style.DATA, "raw=.body"),
        ("s3", "output", Style.DATA, ""),
    }
    assert picture.vertex("s3").detail == "d"  # a function node: no method


def test_two_references_between_the_same_steps_make_one_arrow_with_both_labels() -> None:
    picture = _draw(
        _manifest(
            [{"name": "a", "class": "m:A"}],
            [{"name": "s", "call": "a.run", "args": ["$req.x"], "kwargs": {"y": "$req.y"}}],
            "$s",
        )
    )
    assert ("input", "s0", Style.DATA, ".x, y=.y") in _arrows(picture)


def test_a_dispatch_is_a_rhombus_with_a_box_per_case_and_consumers_draw_from_every_case() -> None:
    picture = _draw(
        _manifest(
            [{"name": n, "class": f"m:{n.upper()}"} for n in ("es", "fr", "en", "post")],
            [
                {
                    "name": "pick",
                    "dispatch": {
                        "value": "$req.lang",
                        "cases": [
                            {"when": "es", "call": "es.hi", "args": ["$req.name"]},
                            {"when": "fr", "call": "fr.hi", "args": ["$req.name"]},
                        ],
                        "default": {"call": "en.hi"},
                    },
                },
                {"name": "done", "call": "post.run", "args": ["$pick"]},
            ],
            "$done",
        )
    )
    assert picture.vertex("s0").kind is Kind.DISPATCH
    assert picture.vertex("s0").detail == "dispatch on $req.lang"
    assert [picture.vertex(f"s0c{i}").title for i in range(3)] == ["es.hi", "fr.hi", "en.hi"]
    arrows = _arrows(picture)
    assert ("input", "s0", Style.DATA, ".lang") in arrows
    assert {
        ("s0", f"s0c{i}", Style.CASE, label)
        for i, label in enumerate(["when es", "when fr", "default"])
    } <= arrows
    assert ("input", "s0c0", Style.DATA, ".name") in arrows
    assert {
        ("s0c0", "s1", Style.DATA, ""),
        ("s0c1", "s1", Style.DATA, ""),
        ("s0c2", "s1", Style.DATA, ""),
    } <= arrows
    assert ("s0", "s1", Style.DATA, "") not in arrows


def test_handles_are_dashed_and_followed_to_the_handles_of_handles() -> None:
    picture = _draw(
        _manifest(
            [
                {"name": "router", "class": "m:R", "handles": ["model"]},
                {"name": "model", "class": "m:M", "handles": ["cache"]},
                {"name": "cache", "class": "m:C"},
            ],
            [{"name": "s", "call": "router.route", "args": ["$req"]}],
            "$s",
        )
    )
    assert ("s0", "h_model", Style.HANDLE, "") in _arrows(picture)
    assert ("h_model", "h_cache", Style.HANDLE, "") in _arrows(picture)
    assert picture.vertex("h_cache").kind is Kind.HANDLE
    assert "-.-> h_model" in to_mermaid(picture)
    assert "s0 -> h_model [style=dashed];" in to_dot(picture)


def test_a_group_is_a_cluster_of_the_vertices_that_run_its_nodes() -> None:
    picture = _draw(
        _manifest(
            [{"name": n, "class": f"m:{n.upper()}"} for n in ("a", "b", "c")],
            [
                {"name": "x", "call": "a.run", "args": ["$req"]},
                {"name": "y", "call": "b.run", "args": ["$x"]},
                {"name": "z", "call": "c.run", "args": ["$y"]},
            ],
            "$z",
            groups=[{"name": "fused", "nodes": ["a", "b"]}],
        )
    )
    (cluster,) = picture.clusters
    assert cluster.members == ("s0", "s1")
    assert "fused" in cluster.title
    mermaid = to_mermaid(picture)
    assert 'subgraph g0["group fused: one pod, one process"]' in mermaid
    assert "subgraph cluster_g0 {" in to_dot(picture)


def test_problems_are_marked_on_the_step_the_node_the_case_and_the_output() -> None:
    document = _manifest(
        [{"name": "a", "class": "m:A", "replicas": -1}, {"name": "b", "class": "m:B"}],
        [
            {"name": "x", "call": "a.run", "args": ["$req"]},
            {"name": "y", "call": "b.run", "args": ["$nope"]},
            {"name": "w", "dispatch": {"value": "$x", "cases": [{"when": "1", "call": "zz.run"}]}},
        ],
        "$missing",
    )
    picture = _draw(document)
    assert not picture.valid
    assert picture.vertex("s0").problems == ["replicas: must be at least 0, got -1"]
    assert picture.vertex("s1").problems == ['args[0]: unknown step "nope"']
    assert any("unknown node" in p for p in picture.vertex("s2c0").problems)
    assert any("missing" in p for p in picture.vertex("output").problems)
    mermaid = to_mermaid(picture)
    assert "classDef problem" in mermaid
    assert "unknown step #quot;nope#quot;" in mermaid  # quotes never end Mermaid's label early
    assert 'color="#c62828"' in to_dot(picture)
    svg = ElementTree.fromstring(to_svg(picture))
    marked = [
        g
        for g in svg.iter("{http://www.w3.org/2000/svg}g")
        if "problem" in g.get("class", "").split()
    ]
    assert {g.get("id") for g in marked} >= {"v-s0", "v-s1", "v-s2c0", "v-output"}


def test_problems_that_point_at_nothing_drawn_get_a_box_of_their_own() -> None:
    document = _manifest([{"name": "a", "class": "m:A"}], [{"name": "x", "call": "a.run"}], "$x")
    document["spec"]["ingress"] = {"replicas": 0}
    picture = _draw(document)
    problems = picture.vertex("problems")
    assert problems.kind is Kind.PROBLEMS
    assert any(p.startswith("spec.ingress.replicas:") for p in problems.problems)


def test_a_cyclic_flow_is_still_drawn_in_every_format() -> None:
    picture = _draw(
        _manifest(
            [{"name": "a", "class": "m:A"}],
            [
                {"name": "x", "call": "a.run", "args": ["$y"]},
                {"name": "y", "call": "a.run", "args": ["$x"]},
            ],
            "$y",
        )
    )
    assert not picture.valid
    assert {("s1", "s0"), ("s0", "s1")} <= {(a.source, a.target) for a in picture.arrows}
    ElementTree.fromstring(to_svg(picture))
    assert "s1 --> s0" in to_mermaid(picture)


def test_markup_in_names_and_values_is_escaped_in_every_format() -> None:
    picture = _draw(
        _manifest(
            [{"name": "a", "class": "m:A"}],
            [
                {
                    "name": "x",
                    "dispatch": {"value": "$req", "cases": [{"when": '<b>"&#', "call": "a.run"}]},
                }
            ],
            "$x",
        )
    )
    mermaid = to_mermaid(picture)
    assert '"when #lt;b#gt;#quot;&#35;"' in mermaid
    assert 'label="when <b>\\"&#"' in to_dot(picture)
    svg = to_svg(picture)
    ElementTree.fromstring(svg)
    assert "&lt;b&gt;&quot;&amp;#" in svg


def test_live_figures_slots_are_only_on_vertices_that_run_a_node() -> None:
    picture = _draw(
        _manifest(
            [{"name": "a", "class": "m:A"}],
            [{"name": "x", "call": "a.run", "args": ["$req"]}],
            "$x",
        )
    )
    root = ElementTree.fromstring(to_svg(picture, figures=True))
    space = "{http://www.w3.org/2000/svg}"
    slots = {
        g.get("id"): (
            g.get("data-node"),
            len([t for t in g.iter(f"{space}text") if t.get("class") == "figures"]),
        )
        for g in root.iter(f"{space}g")
        if g.get("id", "").startswith("v-")
    }
    assert slots == {"v-input": (None, 0), "v-s0": ("a", 2), "v-output": (None, 0)}
    plain = ElementTree.fromstring(to_svg(picture))
    assert not [t for t in plain.iter(f"{space}text") if t.get("class") == "figures"]


def test_soft_steps_are_dashed_and_steps_show_their_guards_and_quorums() -> None:
    picture = _draw(
        _manifest(
            [
                {"name": "m", "class": "m:M", "methods": [{"name": "b", "idempotent": True}]},
                {"name": "spare", "class": "m:S"},
            ],
            [
                {
                    "name": "a",
                    "call": "m.a",
                    "args": ["$req"],
                    "optional": True,
                    "timeoutSeconds": 0.5,
                    "fallback": {"value": []},
                },
                {
                    "name": "b",
                    "call": "m.b",
                    "args": ["$req"],
                    "optional": True,
                    "fallback": {"call": "spare.run"},
                    "retries": {"attempts": 3, "retryOn": ["error"]},
                },
                {"name": "c", "call": "m.c", "args": ["$req"]},
                {
                    "name": "j",
                    "call": "m.join",
                    "args": [["$a", "$b", "$c"]],
                    "quorum": {"min": 2, "withinSeconds": 0.2},
                },
            ],
            "$j",
        )
    )
    assert picture.valid, picture.problems
    soft = picture.vertex("s0")
    assert soft.soft and soft.lines == ["a", "m.a", "optional, fallback []; timeout 0.5 s"]
    assert picture.vertex("s1").lines[2] == "optional, fallback spare.run; retries 2"
    assert not picture.vertex("s2").soft and picture.vertex("s2").lines == ["c", "m.c"]
    assert picture.vertex("s3").lines[2] == "quorum 2 of 3 within 0.2 s"
    assert "class s0,s1 soft" in to_mermaid(picture)
    assert 'style="rounded,dashed"' in to_dot(picture)
    assert 'class="vertex step soft"' in to_svg(picture)


def test_a_split_is_a_rhombus_whose_case_arrows_carry_their_shares() -> None:
    picture = _draw(
        _manifest(
            [{"name": n, "class": f"m:{n.upper()}"} for n in ("stable", "canary")],
            [
                {
                    "name": "pick",
                    "split": {
                        "header": "x-user",
                        "cases": [
                            {"weight": 3, "call": "stable.run", "args": ["$req"]},
                            {"weight": 1, "call": "canary.run", "args": ["$req"]},
                        ],
                    },
                }
            ],
            "$pick",
        )
    )
    assert picture.vertex("s0").kind is Kind.DISPATCH
    assert picture.vertex("s0").detail == "split by x-user"
    arrows = _arrows(picture)
    assert {("s0", "s0c0", Style.CASE, "75%"), ("s0", "s0c1", Style.CASE, "25%")} <= arrows
    assert {("s0c0", "output", Style.DATA, ""), ("s0c1", "output", Style.DATA, "")} <= arrows


def test_a_structured_output_draws_an_arrow_per_field_labelled_with_its_key() -> None:
    picture = _draw(
        _manifest(
            [{"name": "a", "class": "m:A"}, {"name": "b", "class": "m:B"}],
            [
                {"name": "p", "call": "a.f", "args": ["$req"]},
                {"name": "q", "call": "b.f", "args": ["$p"]},
            ],
            {"label": "$q", "boxes": "$p.boxes"},
        )
    )
    arrows = _arrows(picture)
    assert {
        ("s1", "output", Style.DATA, "label"),
        ("s0", "output", Style.DATA, "boxes=.boxes"),
    } <= (arrows)
    listed = _draw(
        _manifest(
            [{"name": "a", "class": "m:A"}],
            [{"name": "p", "call": "a.f", "args": ["$req"]}],
            ["$p", "$req"],
        )
    )
    assert {("s0", "output", Style.DATA, "[0]"), ("input", "output", Style.DATA, "[1]")} <= (
        _arrows(listed)
    )
