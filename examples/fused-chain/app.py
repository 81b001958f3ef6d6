"""The fused chain declared in Python; `braid build app.py:app` writes graph.yaml's equivalent.

braid run examples/fused-chain/app.py:app   # curl -d 5 localhost:8000/ -> {"value": 10.0, ...}
"""

from steps import Label, Parse, Scale

from braid.authoring import Input, bind, graph

parse = bind(Parse).options(replicas=2)  # the group's replicas: set once, by any member
scale = bind(Scale).options(user_config={"factor": 2}, max_ongoing_requests=8)
label = bind(Label, threshold=10)

text = Input("text")
parsed = parse.run.bind(text)
scaled = scale.run.bind(parsed)
labelled = label.run.bind(scaled)

# One pod and one process per replica for all three; each hands its result to the next in process.
app = graph(labelled, name="fused-chain", groups={"pipeline": [parse, scale, label]})
