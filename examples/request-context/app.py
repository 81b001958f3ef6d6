"""The request-context graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from tenants import Audit, Greeter

from braid.authoring import Input, bind, graph

audit = bind(Audit)
greeter = bind(Greeter, audit=audit)  # a bound node passed to a constructor becomes a handle

name = Input("name")
greeting = greeter.greet.bind(name)

# Only these request headers reach node code (braid.request_context().headers).
app = graph(greeting, name="tenants", forward_headers=["x-tenant", "x-user-*"])
