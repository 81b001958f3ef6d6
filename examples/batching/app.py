"""The batching graph declared in Python: `braid build app.py:app` writes graph.yaml's equivalent.

braid run examples/batching/app.py:app      # or: braid run examples/batching/graph.yaml
"""

from vectors import Scorer

from braid.authoring import Input, bind, graph

scorer = bind(Scorer, width=64, depth=2000).options(
    max_ongoing_requests=64,
    method_options=[
        {"name": "score", "batching": {"maxBatchSize": 32, "batchWaitTimeoutSeconds": 0.005}}
    ],
)

features = Input("features")
scores = scorer.score.bind(features)

app = graph(scores, name="batching")
