"""Sub-graphs against kmock's emulated API: graphs of one namespace calling each other in a
cycle turn Invalid, naming the cycle, and get no children (docs/decisions/0023-sub-graphs.md)."""

from __future__ import annotations

from typing import Any

import yaml
from operator_emulator import GRAPHS, ApiServer, eventually
from test_handlers import NS, condition, create


def example(file: str) -> dict[str, Any]:
    with open(f"examples/subgraphs/{file}") as handle:
        body: dict[str, Any] = yaml.safe_load(handle)
    body["metadata"]["namespace"] = NS
    return body


async def test_a_graph_closing_a_cycle_of_subgraphs_is_invalid(
    api_server: ApiServer, start_operator: Any
) -> None:
    await start_operator()
    scoring = example("graph-scoring.yaml")
    # The scoring graph calls the review graph back: review -> scoring -> review.
    scoring["spec"]["flow"]["steps"].append(
        {"name": "again", "graph": "review", "args": ["$score"]}
    )
    scoring["spec"]["flow"]["output"] = "$again"
    await create(api_server, scoring)
    await eventually(lambda: api_server.stored("apps/v1/deployments", NS, "scoring-ingress"))
    await create(api_server, example("graph.yaml"))
    invalid = await eventually(
        lambda: (
            (c := condition(api_server.stored(GRAPHS, NS, "review"), "Invalid"))
            and c["status"] == "True"
            and c
        )
    )
    assert (
        "the graphs call each other in a cycle: review -> scoring -> review" in invalid["message"]
    )
    assert api_server.stored("apps/v1/deployments", NS, "review-ingress") is None
