"""A tiny Open Inference Protocol (KServe v2) model server, with the standard library and numpy.

It stands in for Triton or MLServer: one model, ``scaler``, with one FP32 input ``INPUT0`` and
one FP32 output ``OUTPUT0`` = ``(INPUT0 - mean) / scale`` (the mean and scale "learnt" offline).
It answers the protocol's JSON over HTTP: ``/v2/health/ready``, ``/v2/models/scaler`` and
``/v2/models/scaler/infer``, with ``{"error": ...}`` bodies. It listens on $PORT (default 8500)
of every interface ($HOST, default 0.0.0.0), as model servers do in a pod.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

MODEL = "scaler"
MEAN, SCALE = 5.0, 2.0
METADATA = {
    "name": MODEL,
    "versions": ["1"],
    "platform": "numpy",
    "inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [-1]}],
    "outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": [-1]}],
}


def infer(request: dict) -> dict:
    (tensor,) = [t for t in request["inputs"] if t["name"] == "INPUT0"]
    if tensor["datatype"] not in ("FP32", "FP64"):
        raise ValueError(f"INPUT0 must be FP32 (or FP64), not {tensor['datatype']}")
    values = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    scaled = (values - MEAN) / SCALE
    output = {"name": "OUTPUT0", "datatype": "FP32", "shape": list(scaled.shape)}
    return {"model_name": MODEL, "outputs": [{**output, "data": scaled.reshape(-1).tolist()}]}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path in ("/v2/health/live", "/v2/health/ready", f"/v2/models/{MODEL}/ready"):
            self._reply(200, {})
        elif self.path == f"/v2/models/{MODEL}":
            self._reply(200, METADATA)
        else:
            self._reply(404, {"error": f"no path {self.path}"})

    def do_POST(self) -> None:
        if self.path != f"/v2/models/{MODEL}/infer":
            self._reply(404, {"error": f"unknown model at {self.path}"})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        try:
            self._reply(200, infer(body))
        except (KeyError, ValueError) as exc:
            self._reply(400, {"error": str(exc)})

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
    ThreadingHTTPServer((host, int(os.environ.get("PORT", "8500"))), Handler).serve_forever()
