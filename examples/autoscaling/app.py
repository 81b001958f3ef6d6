"""The summaries graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent.

braid run examples/autoscaling/app.py:app
curl -d '"a long   text to summarize"' localhost:8000/summaries   # wakes the summarizer
"""

from summaries import Summarizer, clean

from braid.authoring import Input, bind, graph

cleaner = bind(clean).options(name="cleaner")
summarizer = bind(Summarizer, words=8, seconds=0.2).options(
    max_ongoing_requests=4,
    autoscaling={
        "minReplicas": 0,
        "maxReplicas": 4,
        "targetOngoingRequests": 2,
        "upscaleDelaySeconds": 2,
        "downscaleDelaySeconds": 30,
        "downscaleToZeroDelaySeconds": 60,
        "maxBufferedRequests": 64,
    },
)

text = Input("text")
cleaned = cleaner.bind(text)
summary = summarizer.summarize.bind(cleaned)

app = graph(summary, name="summaries", route_prefix="/summaries")
