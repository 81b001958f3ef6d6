"""The `kserve` Python client against a running braid ingress, in a virtualenv of its own.

Run by test_open_inference_protocol.py as ``.venv-kserve/bin/python kserve_clients.py http|grpc
HOST:PORT``; prints one JSON object of what each call gave. kserve pins protobuf below the major
version braid's environment has, so scripts/setup installs it in ``.venv-kserve`` and this script
imports nothing of braid's.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np


def tensor(name: str, array: np.ndarray) -> Any:
    from kserve import InferInput  # noqa: PLC0415

    datatype = {"float32": "FP32", "int64": "INT64", "object": "BYTES"}[str(array.dtype)]
    found = InferInput(name, list(array.shape), datatype)
    found.set_data_from_numpy(array, binary_data=True)
    return found


def outputs(response: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for output in response.outputs:
        values = output.as_numpy().tolist()
        found[output.name] = [v.decode() if isinstance(v, bytes) else v for v in values]
    return found


async def main(protocol: str, address: str) -> dict[str, Any]:
    from kserve import (  # noqa: PLC0415
        InferenceGRPCClient,
        InferenceRESTClient,
        InferRequest,
        RESTConfig,
    )

    fp32 = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    requests = {
        "fp32": InferRequest("tensors", [tensor("x", fp32)], request_id="r-1"),
        "bytes": InferRequest("tensors", [tensor("x", np.array([b"ab", b"cd"], dtype=object))]),
        "chain": InferRequest(
            "inference-chain", [tensor("values", np.array([1, 5, 11], dtype=np.float32))]
        ),
        "unknown_model": InferRequest("nope", [tensor("x", fp32)]),
    }
    found: dict[str, Any] = {}
    if protocol == "grpc":
        import grpc  # noqa: PLC0415

        client = InferenceGRPCClient(address, retries=2, timeout=30)
        found["live"] = await client.is_server_live()
        found["ready"] = await client.is_server_ready()
        found["model_ready"] = await client.is_model_ready("tensors")
        for key, request in requests.items():
            try:
                found[key] = outputs(await client.infer(request))
            except grpc.RpcError as exc:
                found[key] = {"status": exc.code().name, "error": exc.details()}
        await client.close()
        return found

    import httpx  # noqa: PLC0415

    base = f"http://{address}"
    rest = InferenceRESTClient(RESTConfig(protocol="v2", retries=2, timeout=30))
    found["live"] = await rest.is_server_live(base)
    found["ready"] = await rest.is_server_ready(base)
    found["model_ready"] = await rest.is_model_ready(base, "tensors")
    for key, request in requests.items():
        try:
            found[key] = outputs(await rest.infer(base, request, model_name=request.model_name))
        except httpx.HTTPStatusError as exc:
            error = exc.response.json()["error"]
            found[key] = {"status": exc.response.status_code, "error": error}
    await rest.close()
    return found


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
