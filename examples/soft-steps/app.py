"""The shop graph declared in Python: `braid build app.py:app` writes graph.yaml's
equivalent."""

from shop import Summarizer, Tagger, describe, first_sentence, page

from braid.authoring import Input, bind, graph

describer = bind(describe).options(name="describe")
tagger = bind(Tagger)
summarizer = bind(Summarizer).options(
    replicas=2, method_options=[{"name": "summarize", "idempotent": True}]
)
backup = bind(first_sentence).options(name="first-sentence")
pager = bind(page).options(name="page")

product = Input("product")
description = describer.bind(product)
# Soft: a slow or broken tagger gives no tags instead of failing the page.
tags = tagger.tags.bind(product).timeout(1).soft(fallback=[])
# Retried on an error (the method is idempotent), then the cheap summary as a fallback call.
summary = (
    summarizer.summarize.bind(description, product)
    .retries(3, backoff=0.05, max_backoff=0.2, on=["error"], budget=5)
    .soft(fallback=backup.method("__call__"))  # backup(description, product)
)
rendered = pager.bind(description, tags, summary)

app = graph(rendered, name="shop")
