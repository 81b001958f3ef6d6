"""Sub-graph steps declared in Python: `subgraph(name).bind(...)` builds a `graph:` step."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from braid.authoring import BindError, BuildInvalid, Input, bind, graph, subgraph


def shout(text: str, scores: Any = None) -> str:
    return text.upper()


def test_a_subgraph_step_builds_with_one_input_or_an_object_input() -> None:
    text = Input("text")
    scored = subgraph("scoring").bind(text)
    framed = subgraph("framing").bind(text=text, lang="en").named("framed")
    app = graph(bind(shout).bind(text, [scored, framed]), name="caller")
    steps = {step["name"]: step for step in yaml.safe_load(app.to_yaml())["spec"]["flow"]["steps"]}
    assert steps["scored"] == {"name": "scored", "graph": "scoring", "args": ["$text"]}
    assert steps["framed"] == {
        "name": "framed",
        "graph": "framing",
        "kwargs": {"text": "$text", "lang": "en"},
    }


def test_an_unnamed_subgraph_step_is_named_after_its_graph() -> None:
    text = Input("text")
    app = graph(bind(shout).bind(text, subgraph("scoring").bind(text)), name="caller")
    assert [step.name for step in app.build().spec.flow.steps] == ["scoring", "shout"]


def test_two_inputs_or_a_non_name_are_refused_where_written() -> None:
    text = Input("text")
    with pytest.raises(BindError, match='graph "scoring" has one input'):
        subgraph("scoring").bind(text, text)
    with pytest.raises(BindError, match='graph "scoring" has one input'):
        subgraph("scoring").bind(text, lang="en")
    with pytest.raises(BindError, match="takes the other graph's name"):
        subgraph(42)  # type: ignore[arg-type]


def test_a_graph_calling_itself_is_a_build_problem() -> None:
    text = Input("text")
    app = graph(bind(shout).bind(subgraph("caller").bind(text)), name="caller")
    with pytest.raises(BuildInvalid, match='graph "caller" calls itself'):
        app.build()
