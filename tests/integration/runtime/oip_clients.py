"""tritonclient against a running braid ingress, in a process of its own.

Run by test_open_inference_protocol.py as ``python oip_clients.py http|grpc HOST:PORT``; prints one
JSON object of what each call gave. It runs apart from the tests' process because tritonclient's
gRPC stubs and braid's own declare the same protobuf messages (``inference.*``), which one
protobuf descriptor pool cannot hold twice.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np


def main(protocol: str, address: str) -> dict[str, Any]:
    if protocol == "grpc":
        import tritonclient.grpc as client  # noqa: PLC0415
    else:
        import tritonclient.http as client  # noqa: PLC0415
    from tritonclient.utils import InferenceServerException  # noqa: PLC0415

    triton = client.InferenceServerClient(address)
    found: dict[str, Any] = {
        "live": triton.is_server_live(),
        "ready": triton.is_server_ready(),
        "model_ready": triton.is_model_ready("tensors"),
    }
    meta = triton.get_model_metadata("tensors")
    found["metadata_name"] = meta["name"] if isinstance(meta, dict) else meta.name

    def infer(model: str, arrays: dict[str, np.ndarray], binary: bool = True) -> Any:
        inputs = []
        for name, array in arrays.items():
            datatype = "BYTES" if array.dtype == object else str(array.dtype).upper()
            datatype = {"FLOAT32": "FP32"}.get(datatype, datatype)
            tensor = client.InferInput(name, list(array.shape), datatype)
            if protocol == "grpc":
                tensor.set_data_from_numpy(array)
            else:
                tensor.set_data_from_numpy(array, binary_data=binary)
            inputs.append(tensor)
        try:
            result = triton.infer(model, inputs)
        except InferenceServerException as exc:
            return {"error": exc.message(), "status": str(exc.status())}
        response = result.get_response()
        names = (
            [o["name"] for o in response["outputs"]]
            if isinstance(response, dict)
            else [o.name for o in response.outputs]
        )
        return {name: result.as_numpy(name).tolist() for name in names}

    fp32 = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    found["fp32"] = infer("tensors", {"x": fp32})
    found["fp32_json"] = infer("tensors", {"x": fp32}, binary=False)
    found["int64"] = infer("tensors", {"x": np.array([1, 2, 3], dtype=np.int64)})
    found["bytes"] = infer("tensors", {"x": np.array([b"ab", b"cd"], dtype=object)})
    found["bytes_json"] = infer("tensors", {"x": np.array([b"ab"], dtype=object)}, binary=False)
    found["several"] = infer(
        "tensors", {"a": np.array([1], dtype=np.int64), "b": np.array([1.0], dtype=np.float32)}
    )
    found["chain"] = infer("inference-chain", {"values": np.array([1, 5, 11], dtype=np.float32)})
    found["unknown_model"] = infer("nope", {"x": fp32})
    found["chain_wrong_dtype"] = infer("inference-chain", {"values": np.array([1], dtype=np.int64)})
    for key, value in list(found.items()):
        if isinstance(value, dict):
            found[key] = {
                k: [b.decode() if isinstance(b, bytes) else b for b in v]
                if isinstance(v, list)
                else v
                for k, v in value.items()
            }
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), default=str))
