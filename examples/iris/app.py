"""The iris graph declared in Python: `braid build app.py:app` writes graph.yaml's equivalent.

braid run examples/iris/app.py:app      # or: braid run examples/iris/graph.yaml
"""

from flowers import Classifier, Scaler, soft_vote

from braid.authoring import Input, bind, graph

scaler = bind(Scaler)
logistic = bind(Classifier, "logistic")  # resources come from @node on Classifier
forest = bind(Classifier, "forest", trees=50)
vote = bind(soft_vote)

flowers = Input("flowers")
features = scaler.transform.bind(flowers)
by_logistic = logistic.predict_proba.bind(features).named("by-logistic")  # fan-out
by_forest = forest.predict_proba.bind(features).named("by-forest")
species = vote.bind([by_logistic, by_forest])  # the join

app = graph(species, name="iris", route_prefix="/iris")
