"""Both graphs of the sub-graphs example declared in Python.

`braid build app.py:app` writes graph.yaml's equivalent (the review graph), and
`braid build app.py:scoring` graph-scoring.yaml's. `subgraph("scoring")` is the scoring graph,
called by name as if it were a node; `braid run app.py:app app.py:scoring` runs both together.
"""

import reviews

from braid.authoring import Input, bind, graph, subgraph

# The sub-graph: a review's words scored against two word lists.
splitter = bind(reviews.split)
lexicon = bind(reviews.score)

text = Input("text")
words = splitter.bind(text)
scoring = graph(lexicon.bind(words).named("score"), name="scoring", route_prefix="/scoring")

# The review graph: its `scored` step calls the scoring graph by name, as if it were a node.
cleaner = bind(reviews.clean)
judge = bind(reviews.judge)

review = Input("review")
cleaned = cleaner.bind(review)
scored = subgraph("scoring").bind(cleaned)
verdict = judge.bind(cleaned, scored)

app = graph(verdict, name="review", route_prefix="/review")
