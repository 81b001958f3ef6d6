"""The Open Inference Protocol (KServe v2) at the ingress, with real clients and `braid run`.

One launch serves two graphs: graphs/tensors.yaml (one node that answers each kind of tensor)
and examples/inference-chain (an inference node fronting the example's tiny v2 server, chained
with a Python node). tritonclient.http and tritonclient.grpc call them from a process of their
own (oip_clients.py says why), and so does the `kserve` client, from its own virtualenv
(kserve_clients.py); curl and grpcurl check the error bodies and statuses.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import GRAPHS, Running, braid_run, example_copy, grpcurl, post_json, request

CLIENTS = Path(__file__).parent / "oip_clients.py"
KSERVE_CLIENTS = Path(__file__).parent / "kserve_clients.py"
# scripts/setup installs the kserve client here: it pins a protobuf major below braid's.
KSERVE_PYTHON = Path(__file__).parents[3] / ".venv-kserve" / "bin" / "python"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    work = tmp_path_factory.mktemp("oip")
    chain = example_copy("inference-chain", work, route="/inference-chain")
    with braid_run([GRAPHS / "tensors.yaml", chain], work) as launched:
        yield launched


def triton(protocol: str, address: str, python: Path | None = None) -> dict[str, Any]:
    script = CLIENTS if python is None else KSERVE_CLIENTS
    result = subprocess.run(
        [str(python or sys.executable), str(script), protocol, address],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_tritonclient_calls_graphs_as_models(running: Running, protocol: str) -> None:
    found = triton(protocol, running.http if protocol == "http" else running.grpc)
    assert found["live"] is True
    assert found["ready"] is True
    assert found["model_ready"] is True
    assert found["metadata_name"] == "tensors"
    assert found["fp32"] == {"output__0": [[1.5, 2.5], [3.5, 4.5]]}
    assert found["fp32_json"] == found["fp32"]
    assert found["int64"] == {"output__0": [2, 4, 6]}
    assert found["bytes"] == {"output__0": ["AB", "CD"]}
    assert found["bytes_json"] == {"output__0": ["AB"]}
    assert found["several"] == {"a_out": [2], "b_out": [1.5]}
    # The chain: the v2 server standardizes (x - 5) / 2, then Python counts |x| > 1.
    assert found["chain"] == {"scaled": [-2.0, 0.0, 3.0], "outliers": [2]}
    unknown = found["unknown_model"]
    assert 'unknown model "nope"' in unknown["error"]
    assert unknown["status"] in ("404", "StatusCode.NOT_FOUND")
    failed = found["chain_wrong_dtype"]
    assert 'inference node "scaler" (step "scaled")' in failed["error"]
    assert "INPUT0 must be FP32 (or FP64)" in failed["error"]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_the_kserve_client_calls_graphs_as_models(running: Running, protocol: str) -> None:
    assert KSERVE_PYTHON.exists(), "run scripts/setup: it installs the kserve client"
    found = triton(protocol, running.http if protocol == "http" else running.grpc, KSERVE_PYTHON)
    assert found["live"] is True
    assert found["ready"] is True
    assert found["model_ready"] is True
    assert found["fp32"] == {"output__0": [[1.5, 2.5], [3.5, 4.5]]}
    assert found["bytes"] == {"output__0": ["AB", "CD"]}
    assert found["chain"] == {"scaled": [-2.0, 0.0, 3.0], "outliers": [2]}
    unknown = found["unknown_model"]
    assert unknown["status"] in (404, "NOT_FOUND")
    assert 'unknown model "nope"' in unknown["error"]


def test_http_errors_are_v2_error_bodies(running: Running) -> None:
    path = "/v2/models/tensors/infer"
    bad_shape = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [1, 2]}]}
    reply = post_json(running.http, path, bad_shape)
    assert reply.status == 400
    assert json.loads(reply.body) == {
        "error": 'tensor "x": shape [3] holds 3 elements but its data has 2'
    }
    bf16 = {"inputs": [{"name": "x", "datatype": "BF16", "shape": [1], "data": [1]}]}
    reply = post_json(running.http, path, bf16)
    assert reply.status == 400
    assert 'unsupported datatype "BF16"' in json.loads(reply.body)["error"]
    reply = post_json(running.http, "/v2/models/tensors/versions/7/infer", bad_shape)
    assert reply.status == 404
    assert "no version" in json.loads(reply.body)["error"]
    reply = request(running.http, "GET", "/v2/models/nope/ready")
    assert reply.status == 404


def test_http_binary_data_with_a_bad_length(running: Running) -> None:
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [2],
                    "parameters": {"binary_data_size": 8},
                }
            ]
        }
    ).encode()
    headers = {"Inference-Header-Content-Length": str(len(head))}
    reply = request(running.http, "POST", "/v2/models/tensors/infer", head + b"\0" * 6, headers)
    assert reply.status == 400
    assert "binary_data_size 8 runs past the 6 bytes" in json.loads(reply.body)["error"]


def test_grpc_bad_shape_is_invalid_argument(running: Running) -> None:
    data = json.dumps(
        {
            "model_name": "tensors",
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": ["3"],
                    "contents": {"fp32_contents": [1, 2]},
                }
            ],
        }
    )
    result = grpcurl(running.grpc, "inference.GRPCInferenceService/ModelInfer", data)
    assert "InvalidArgument" in result.stderr
    assert "shape [3] holds 3 elements but its data has 2" in result.stderr


def test_the_graph_route_still_serves_plain_json(running: Running) -> None:
    reply = post_json(running.http, "/inference-chain", [1.0, 9.0])
    assert reply.status == 200
    assert json.loads(reply.body) == {"scaled": [-2.0, 2.0], "outliers": [2]}
