"""The canary graph declared in Python: `braid build app.py:app` writes graph.yaml's equivalent."""

from greeters import CanaryGreeter, StableGreeter

from braid.authoring import Input, bind, graph, split

stable = bind(StableGreeter)
canary = bind(CanaryGreeter)

name = Input("name")
# (weight, call) pairs; the header's value picks the case, the same for the same user.
greeting = split(
    [(90, stable.greet.bind(name)), (10, canary.greet.bind(name))],
    header="x-user-id",
)

app = graph(greeting, name="canary")
