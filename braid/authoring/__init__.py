"""Graphs authored in Python, built into the same validated ``DeploymentGraph`` manifest.

::

    from braid.authoring import Input, bind, graph

    adder = bind(Adder, increment=1)                     # a node; its constructor's arguments
    multiplier = bind(Multiplier).options(user_config={"factor": 2})

    number = Input("number")
    total = adder.add.bind(number)                        # a step: $number -> adder.add
    product = multiplier.multiply.bind(total)
    app = graph(product, name="chain")

    app.build()        # the braid.spec.DeploymentGraph, validated
    app.to_yaml()      # what `braid build module:app` writes; `braid run module:app` runs it

This package depends on ``braid.spec`` only (an import-linter contract): declaring a graph
imports no gRPC, Kubernetes client or kopf. See docs/authoring.md and decision 0010.
"""

from braid.authoring._errors import (
    AppLoadError,
    AuthoringError,
    BindError,
    BuildInvalid,
    Origin,
    SourceProblem,
)
from braid.authoring._graphs import Graph, graph
from braid.authoring._loading import load_app
from braid.authoring._nodes import BoundNode, NodeOptions, bind, http_node, inference_node, node
from braid.authoring._values import (
    Call,
    Dispatch,
    Input,
    Method,
    Split,
    Step,
    Subgraph,
    SubgraphCall,
    Value,
    dispatch,
    split,
    subgraph,
)

__all__ = [
    "AppLoadError",
    "AuthoringError",
    "BindError",
    "BoundNode",
    "BuildInvalid",
    "Call",
    "Dispatch",
    "Graph",
    "Input",
    "Method",
    "NodeOptions",
    "Origin",
    "SourceProblem",
    "Split",
    "Step",
    "Subgraph",
    "SubgraphCall",
    "Value",
    "bind",
    "dispatch",
    "graph",
    "http_node",
    "inference_node",
    "load_app",
    "node",
    "split",
    "subgraph",
]
