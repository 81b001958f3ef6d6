"""The fastapi-ingress graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent. The HTTP API is reviews_api.py's FastAPI app, named by its import path: importing it
here would bind it to no graph (braid.ingress works only inside the ingress)."""

from reviews import Sentiment, Words

from braid.authoring import Input, bind, graph

words = bind(Words)
sentiment = bind(Sentiment)

review = Input("review")
split = words.split.bind(review)
scored = sentiment.score.bind(split)

app = graph(scored, name="reviews", route_prefix="/reviews", app="reviews_api:app")
