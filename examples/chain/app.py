"""The chain graph declared in Python; `braid build app.py:app` writes graph.yaml's equivalent.

braid run examples/chain/app.py:app      # runs it directly; curl -d 5 localhost:8000/ -> 12
"""

from arithmetic import Adder, Multiplier

from braid.authoring import Input, bind, graph

adder = bind(Adder, increment=1)  # constructor keyword arguments become the node's init
multiplier = bind(Multiplier).options(user_config={"factor": 2})  # reaches reconfigure()

number = Input("number")
# Steps are named after their variables; `sum` is a builtin, so this one is named explicitly.
total = adder.add.bind(number).named("sum")
product = multiplier.multiply.bind(total)

app = graph(product, name="chain")
