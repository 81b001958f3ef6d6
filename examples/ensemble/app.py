"""The ensemble graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from scorers import CapitalScorer, LengthScorer, VowelScorer, average

from braid.authoring import Input, bind, graph

length = bind(LengthScorer)
vowels = bind(VowelScorer)
caps = bind(CapitalScorer)
vote = bind(average)

text = Input("text")
# Fan-out: three steps on the same input. Step names with '-' are given explicitly.
scores = [
    length.score.bind(text).named("by-length"),
    vowels.score.bind(text).named("by-vowels"),
    caps.score.bind(text).named("by-caps"),
]
verdict = vote.bind(scores, weights=[1, 1, 2])  # the join: a list of three step results

app = graph(verdict, name="ensemble")
