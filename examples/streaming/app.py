"""The streaming graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from counting import Caller, Streamer

from braid.authoring import Input, bind, graph

streamer = bind(Streamer)
caller = bind(Caller, streamer=streamer)  # a handle: Caller streams from it in code

count = Input("count")
numbers = caller.relay.bind(count)

app = graph(numbers, name="streaming", route_prefix="/numbers")
