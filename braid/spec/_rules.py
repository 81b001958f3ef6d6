"""The graph's rules: the checks that need more than one field at a time.

Each check looks at one concern and returns problems; :func:`check_graph` runs them all, in the
order of the file. The node rules (names, settings, GPUs, handles) live in
:mod:`braid.spec._node_rules`, the flow rules (calls, references, cycles, the output) in
:mod:`braid.spec._flow_rules`. They work on a :class:`GraphView`, so that they also run on a
manifest whose other parts failed the schema.
"""

from __future__ import annotations

from braid.spec._errors import Problem
from braid.spec._flow_rules import (
    check_cycles,
    check_expose,
    check_output,
    check_step,
    check_step_names,
    check_unused_nodes,
    step_dependencies,
)
from braid.spec._group_rules import check_groups
from braid.spec._node_rules import (
    check_graph_name,
    check_ingress_app,
    check_node,
    check_node_names,
    check_route_prefix,
)
from braid.spec._views import GraphView

__all__ = ["GraphView", "check_graph", "step_dependencies"]


def check_graph(view: GraphView) -> list[Problem]:
    """Every problem of the graph, in the order of the file."""
    problems = check_graph_name(view)
    problems += check_node_names(view)
    for index, node in view.nodes:
        problems += check_node(view, f"spec.nodes[{index}]", node)
    problems += check_groups(view, view.groups)
    problems += check_step_names(view)
    for index, step in view.steps:
        problems += check_step(view, f"spec.flow.steps[{index}]", step)
    problems += check_cycles(view)
    problems += check_output(view)
    problems += check_expose(view)
    problems += check_unused_nodes(view)
    problems += check_route_prefix(view)
    problems += check_ingress_app(view)
    return problems
