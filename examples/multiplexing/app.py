"""The multiplexing graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent.

braid run examples/multiplexing/app.py:app      # or: braid run examples/multiplexing/graph.yaml
"""

from greeters import Greeter

from braid.authoring import Input, bind, graph

greeter = bind(Greeter).options(
    replicas=2, multiplexing={"maxModelsPerReplica": 2, "loader": "load_model"}
)

name = Input("name")
greeting = greeter.greet.bind(name)

app = graph(greeting, name="multiplexing")
