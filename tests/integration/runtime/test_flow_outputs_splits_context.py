"""Weighted splits, structured outputs, intermediate results and the request context, through
`braid run` in both layouts, with real clients (curl, grpcurl, an HTTP client, a gRPC stub).

The three examples run at once, each under a route prefix of its own: examples/canary (a 90/10
split keyed by the x-user-id header), examples/structured-output (a map output, and an exposed
step) and examples/request-context (node code reading id, deadline and allowed headers, setting
response headers, and a handle call that carries the context onward).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from edge_harness import Running, braid_run, curl, example_copy, grpcurl, post_json

from braid.runtime._flow.splitting import choose_weighted, split_point
from braid.runtime._proto.braid_pb2 import GraphRequest
from braid.runtime._proto.braid_pb2_grpc import GraphStub

#: Requests of the ratio test, and the share the canary must get within ±3 points.
SPLIT_REQUESTS = 2_000
CANARY_SHARE = 0.10
STABLE_ANSWER = "Hello, Ada! (v1)"
CANARY_ANSWER = "Hello there, Ada! (v2)"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"flow-features-{layout}")
    files = [
        example_copy("canary", work, route="/canary"),
        example_copy("structured-output", work, route="/structured"),
        example_copy("request-context", work, route="/tenants"),
    ]
    with braid_run(files, work, "--layout", layout) as launched:
        yield launched


def split_counts(running: Running) -> Counter[str]:
    text = curl(running.status["metrics"]).stdout
    found: Counter[str] = Counter()
    for call, value in re.findall(
        r'braid_split_choices_total\{call="([^"]+)",graph="canary",step="greeting"\} ([0-9.]+)',
        text,
    ):
        found[call] = int(float(value))
    return found


def greet_as(running: Running, user: str) -> str:
    reply = post_json(running.http, "/canary", "Ada", **{"x-user-id": user})
    assert reply.status == 200, reply.body
    answer: str = reply.json()
    return answer


# -- weighted splits --------------------------------------------------------------------------


def test_a_keyed_split_holds_its_ratio_and_each_choice_is_counted(running: Running) -> None:
    users = [f"user-{n}" for n in range(SPLIT_REQUESTS)]
    before = split_counts(running)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda user: greet_as(running, user), users))
    canary = [user for user, answer in zip(users, answers, strict=True) if answer == CANARY_ANSWER]
    assert set(answers) == {STABLE_ANSWER, CANARY_ANSWER}
    # The keys are fixed and the choice is a hash of each: the share is exact, never drawn.
    assert abs(len(canary) / SPLIT_REQUESTS - CANARY_SHARE) <= 0.03, len(canary)
    # ...and it is the hash's choice, user by user.
    predicted = {user for user in users if choose_weighted([90, 10], split_point(user)) == 1}
    assert set(canary) == predicted
    after = split_counts(running)
    assert after["canary.greet"] - before["canary.greet"] == len(canary)
    assert after["stable.greet"] - before["stable.greet"] == SPLIT_REQUESTS - len(canary)


def test_one_key_always_gets_the_same_case(running: Running) -> None:
    users = [f"person-{n}" for n in range(40)]
    first = [greet_as(running, user) for user in users]
    again = [greet_as(running, user) for user in reversed(users)]
    assert first == again[::-1]
    # The README's users, over curl.
    bob = curl("-H", "x-user-id: bob", "-d", '"Bob"', f"http://{running.http}/canary")
    assert json.loads(bob.stdout) == "Hello, Bob! (v1)"
    for _ in range(3):
        assert greet_as(running, "ada") == CANARY_ANSWER


def test_a_split_over_grpc_hashes_the_metadata_key(running: Running) -> None:
    data = '{"graph": "canary", "json": "\\"Ada\\""}'
    for _ in range(3):
        result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data, "-H", "x-user-id: ada")
        assert result.returncode == 0, result.stderr
        assert json.loads(json.loads(result.stdout)["json"]) == CANARY_ANSWER


# -- structured outputs and intermediate results -----------------------------------------------


def test_a_structured_output_over_http_and_grpc(running: Running) -> None:
    wanted = {"boxes": [[0, 0, 1, 1], [1, 0, 2, 1], [2, 0, 3, 1]], "label": "crowd"}
    reply = post_json(running.http, "/structured", {"image": "a b c"})
    assert (reply.status, reply.json()) == (200, wanted)
    data = json.dumps({"graph": "structured", "json": json.dumps({"image": "a b c"})})
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
    assert result.returncode == 0, result.stderr
    assert json.loads(json.loads(result.stdout)["json"]) == wanted


def test_exposed_intermediate_results_come_back_when_asked_for(running: Running) -> None:
    reply = post_json(
        running.http, "/structured", {"image": "a b"}, **{"X-Braid-Intermediates": "detected"}
    )
    assert reply.status == 200, reply.body
    detected = {"boxes": [[0, 0, 1, 1], [1, 0, 2, 1]], "model": "d1"}
    assert reply.json() == {
        "output": {"boxes": detected["boxes"], "label": "few"},
        "intermediates": {"detected": detected},
    }
    data = json.dumps(
        {"graph": "structured", "json": '{"image": "a b"}', "intermediates": ["detected"]}
    )
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert json.loads(answer["intermediates_json"]) == {"detected": detected}
    # Without asking, the answer is the output alone.
    plain = post_json(running.http, "/structured", {"image": "a b"})
    assert plain.json() == {"boxes": detected["boxes"], "label": "few"}


def test_intermediate_results_the_graph_does_not_expose_are_refused(running: Running) -> None:
    reply = post_json(
        running.http, "/structured", {"image": "a"}, **{"X-Braid-Intermediates": "label"}
    )
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["kind"] == "BadRequest"
    assert 'does not expose "label"' in error["message"]
    assert "spec.flow.expose (detected)" in error["message"]
    data = json.dumps({"graph": "structured", "json": '{"image": "a"}', "intermediates": ["x"]})
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
    assert result.returncode != 0
    assert "InvalidArgument" in result.stderr and 'does not expose "x"' in result.stderr


# -- the request context ---------------------------------------------------------------------


def test_node_code_reads_the_context_and_sets_response_headers(running: Running) -> None:
    reply = post_json(
        running.http,
        "/tenants",
        "Ada",
        **{
            "x-tenant": "acme",
            "x-user-id": "7",
            "authorization": "Bearer secret",
            "x-other": "no",
            "X-Request-Timeout": "20",
        },
    )
    assert reply.status == 200, reply.body
    # Only the allowed headers reached the node; authorization and x-other stayed behind.
    assert reply.json() == {
        "greeting": "Hello, Ada of acme!",
        "headers": ["x-tenant", "x-user-id"],
        "audit": "Ada audited for acme",  # the handle call carried the context onward
    }
    assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["x-request-id"])
    assert 0.0 < float(reply.headers["x-seconds-left"]) <= 20.0
    # Set by the node behind the handle call, in a sync method's thread.
    assert reply.headers["x-audited-by"] == "audit"
    other = post_json(running.http, "/tenants", "Ada", **{"x-tenant": "acme"})
    assert other.headers["x-request-id"] != reply.headers["x-request-id"]


def test_without_allowed_headers_node_code_sees_none(running: Running) -> None:
    reply = post_json(running.http, "/tenants", "Bo", authorization="Bearer secret")
    assert reply.json() == {
        "greeting": "Hello, Bo of nobody!",
        "headers": [],
        "audit": "Bo audited for nobody",
    }


def test_the_context_over_grpc_metadata_and_trailers(running: Running) -> None:
    with grpc.insecure_channel(running.grpc) as channel:
        stub = GraphStub(channel)
        reply, call = stub.Invoke.with_call(
            GraphRequest(graph="tenants", json='"Ada"'),
            metadata=(("x-tenant", "acme"), ("authorization", "Bearer secret")),
            timeout=30,
        )
    assert json.loads(reply.json) == {
        "greeting": "Hello, Ada of acme!",
        "headers": ["x-tenant"],
        "audit": "Ada audited for acme",
    }
    trailers = dict(call.trailing_metadata() or ())
    assert trailers["x-audited-by"] == "audit"
    assert re.fullmatch(r"[0-9a-f]{32}", trailers["x-request-id"])
    assert 0.0 < float(trailers["x-seconds-left"]) <= 30.0
