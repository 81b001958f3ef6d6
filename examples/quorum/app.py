"""The sentiment-quorum graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from sentiments import Counter, Lexicon, Transformer, vote

from braid.authoring import Input, bind, graph

lexicon = bind(Lexicon)
counter = bind(Counter)
transformer = bind(Transformer)
voter = bind(vote).options(name="vote")

request = Input("request")
scores = [
    lexicon.score.bind(request).named("by-lexicon"),
    counter.score.bind(request).named("by-counter"),
    transformer.score.bind(request).named("by-transformer"),
]
# Any 2 of the 3 models make an answer; wait up to 0.5 s for all of them.
verdict = voter.bind(scores).quorum(2, within=0.5, missing_argument="missing")

app = graph(verdict, name="sentiment-quorum")
