"""The inference chain declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from scoring import score

from braid.authoring import Input, bind, graph, inference_node

# A node that calls model "scaler" on an Open Inference Protocol (v2) server run beside it.
scaler = inference_node(
    model="scaler",
    protocol="http",
    port=8500,
    command=["python", "-m", "v2_server"],  # on braid's image the example is on PYTHONPATH
)
scoring = bind(score)

values = Input("values")
scaled = scaler.infer.bind(values)
scored = scoring.bind(scaled)

app = graph(scored, name="inference-chain")
