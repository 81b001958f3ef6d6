"""A plain ASGI app (no framework) that streams the "counts" graph's flow (test_ingress_apps.py)."""

from __future__ import annotations

import json
from typing import Any

from braid import ingress


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == scope["root_path"] + "/boom":
        raise KeyError("no such count")
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == scope["root_path"] + "/whole":
        try:
            await ingress.flow()(json.loads(body))
        except ingress.RequestError as error:
            data = json.dumps({"status": error.http_status, "message": error.message}).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": data})
            return
    headers = [(b"content-type", b"application/x-ndjson")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    async for item in ingress.flow().stream(json.loads(body)):
        data = json.dumps({"item": item}).encode() + b"\n"
        await send({"type": "http.response.body", "body": data, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
