"""The pass-by-reference graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from references import Consumer, Coordinator, Producer

from braid.authoring import Input, bind, graph

producer = bind(Producer)
consumer = bind(Consumer)
coordinator = bind(Coordinator, producer, consumer)  # positional: matched to the parameters

count = Input("count")
total = coordinator.run.bind(count)

app = graph(total, name="pass-by-reference")
