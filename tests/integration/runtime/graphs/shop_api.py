"""A FastAPI app that serves the "shop" graph (test_ingress_apps.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from braid import ingress


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # The lifespan runs in the ingress before it listens: the flow is there already.
    yield {"warmed": await ingress.flow()(50)}


app = FastAPI(title="Shop", lifespan=lifespan)
flow = ingress.flow()
doubler = ingress.handle("doubler")
counter = ingress.handle("counter")
failing = ingress.handle("failing")


class Order(BaseModel):
    n: int


@app.exception_handler(ingress.RequestError)
async def graph_failed(request: Request, error: ingress.RequestError) -> JSONResponse:
    body = {"kind": error.kind, "node": error.node, "message": error.message}
    return JSONResponse({"error": body}, status_code=error.http_status)


@app.get("/")
async def root() -> dict[str, str]:
    return {"graph": flow.graph}


@app.post("/double")
async def double(order: Order) -> dict[str, int]:
    return {"result": await flow(order.n)}


@app.get("/depends/{n}")
async def depends(n: int, graph: Annotated[ingress.Flow, Depends(ingress.flow)]) -> dict[str, int]:
    return {"result": await graph(n)}


@app.get("/count/{n}")
async def count(n: int) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        async for item in counter.options(stream=True).count.remote(n):
            yield json.dumps(item) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@app.get("/chain/{n}")
async def chain(n: int) -> int:
    once = doubler.double.remote(n)
    return await doubler.double.remote(once)  # a response passed on unawaited


@app.get("/sync/{n}")
def sync(n: int) -> int:
    return int(doubler.double.remote(n).result(timeout=30))  # FastAPI runs it in a thread


@app.get("/fail-node")
async def fail_node() -> int:
    return await failing.explode.remote(1)


@app.get("/state")
async def state(request: Request) -> dict[str, int]:
    return {"warmed": request.state.warmed}


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("boom in the app")
