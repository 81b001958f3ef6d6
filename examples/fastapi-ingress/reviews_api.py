"""The graph's own HTTP API: a FastAPI app that the braid ingress serves at /reviews.

It validates its input with pydantic (FastAPI answers 422 naming the field), runs the graph's
flow for a score, and streams a review's words from the `words` node through a handle as
Server-Sent Events. /reviews/docs and /reviews/openapi.json come from FastAPI as usual.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from braid import ingress

app = FastAPI(title="Reviews", version="1.0", description="Scores restaurant reviews.")

# Bound at import to the graph whose app this is: the flow, and a handle to one of its nodes.
flow = ingress.flow()
words = ingress.handle("words")


class Review(BaseModel):
    text: str = Field(min_length=1, max_length=2000, description="The review's text.")
    stars: int = Field(ge=1, le=5, description="The reviewer's rating, 1 to 5.")


class Verdict(BaseModel):
    label: str
    score: int
    words: int
    stars: int
    agrees: bool = Field(description="Whether the text's tone agrees with the stars.")


@app.exception_handler(ingress.RequestError)
async def graph_failed(request: Request, error: ingress.RequestError) -> JSONResponse:
    """A failed graph request keeps its status and names the node and step that failed."""
    return JSONResponse(
        {"error": {"kind": error.kind, "message": error.message, "node": error.node}},
        status_code=error.http_status,
    )


@app.post("/score")
async def score(review: Review) -> Verdict:
    """Run the graph's flow (words, then sentiment) on the review's text."""
    result = await flow(review.text)
    agrees = (result["label"] == "positive") == (review.stars >= 4)
    return Verdict(**result, stars=review.stars, agrees=agrees)


@app.post("/words")
async def stream_words(review: Review) -> StreamingResponse:
    """Each word of the review with its tone, streamed as it is read (Server-Sent Events)."""

    async def events() -> AsyncIterator[str]:
        async for item in words.options(stream=True).each.remote(review.text):
            yield f"data: {json.dumps(item)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "graph": flow.graph}
