"""The sentiment graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from labels import to_label

from braid.authoring import Input, bind, graph, http_node

# A node that fronts an HTTP model server: each method is a path on it.
sentiment = http_node(
    port=8081,
    command=["python", "server.py"],
    readiness_path="/healthz",
    methods={"predict": "/v1/models/sentiment:predict"},
)
label = bind(to_label)

text = Input("text")
scores = sentiment.predict.bind({"instances": [text]})  # a flow value inside a literal
verdict = label.bind(scores)

app = graph(verdict, name="sentiment")
