"""The hello graph declared in Python: `braid build app.py:app` writes graph.yaml's equivalent."""

from greeting import greet

from braid.authoring import Input, bind, graph

greeter = bind(greet)  # a function node: it has no constructor arguments

name = Input("name")
greeting = greeter.bind(name)  # calling the node itself: `call: greeter`

app = graph(greeting, name="hello", route_prefix="/hello")
