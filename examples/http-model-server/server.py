"""A stand-in HTTP model server (KServe v1 style), with only the standard library.

It listens on $PORT (default 8081) of every interface ($HOST, default 0.0.0.0), as model servers
do: in a pod the kubelet probes the pod's IP, never 127.0.0.1, so a server bound to loopback only
would never become ready. It scores text by counting happy and sad words.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HAPPY = {"good", "great", "love", "happy", "excellent"}
SAD = {"bad", "awful", "hate", "sad", "terrible"}


def score(text: str) -> float:
    words = text.lower().split()
    happy, sad = sum(w in HAPPY for w in words), sum(w in SAD for w in words)
    return 0.5 if happy == sad else happy / (happy + sad)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._reply(200, {"status": "ok"} if self.path == "/healthz" else {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/v1/models/sentiment:predict":
            self._reply(404, {"error": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self._reply(200, {"predictions": [score(text) for text in body["instances"]]})

    def _reply(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


if __name__ == "__main__":
    host = os.environ.get("HOST", "0.0.0.0")
    ThreadingHTTPServer((host, int(os.environ.get("PORT", "8081"))), Handler).serve_forever()
