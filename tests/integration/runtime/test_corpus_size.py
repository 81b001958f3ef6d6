"""The standing bad-input corpus (issue 18) counted across its tables: manifests, node code,
HTTP requests, gRPC requests and Python API misuse. Each table's test states, per case, the
expected status and message, and checks that no traceback reached a log and that a normal
request still answers afterwards."""

from __future__ import annotations

from pathlib import Path

import test_bad_node_code
import test_grpc_corpus
import test_malformed_requests
import test_python_api_corpus

MANIFESTS = Path(__file__).parents[2] / "corpus" / "invalid"


def test_the_bad_input_corpus_has_at_least_200_cases() -> None:
    counts = {
        "manifests": len(list(MANIFESTS.glob("*.yaml"))),
        "node code": len(test_bad_node_code.CASES),
        "HTTP": len(test_malformed_requests.CORPUS) + len(test_malformed_requests.MESSAGES),
        "gRPC": len(test_grpc_corpus.CASES) + len(test_grpc_corpus.STREAM_CASES),
        "Python API": len(test_python_api_corpus.RUN_CASES)
        + len(test_python_api_corpus.APP_CASES)
        + len(test_python_api_corpus.HANDLE_CASES),
    }
    total = sum(counts.values())
    print(f"bad-input corpus: {total} cases", counts)
    assert all(counts.values()), counts
    assert total >= 200, counts
