"""Every example, end to end through `braid run`, over HTTP (curl) and gRPC (grpcurl).

One launch serves all the examples at once (each under a route prefix of its own), so that the
module pays for start-up once. The ingress's answers are the examples' documented answers.
"""

from __future__ import annotations

import itertools
import json
import shlex
import subprocess
from collections.abc import Iterator

import pytest
import yaml
from edge_harness import (
    GRPCURL,
    ROOT,
    Running,
    braid_run,
    curl,
    example_copy,
    grpcurl,
    post_json,
)

EXAMPLES = {
    # name -> (example folder, manifest, route prefix)
    "hello": ("hello", "graph.yaml", "/hello"),
    "chain": ("chain", "graph.yaml", "/chain"),
    "languages": ("dispatch", "graph.yaml", "/languages"),
    "languages-declarative": ("dispatch", "graph-declarative.yaml", "/declarative"),
    "ensemble": ("ensemble", "graph.yaml", "/ensemble"),
    "pass-by-reference": ("pass-by-reference", "graph.yaml", "/reference"),
    "content-understanding": ("content-understanding", "graph.yaml", "/content"),
    "sentiment": ("http-model-server", "graph.yaml", "/sentiment"),
    "streaming": ("streaming", "graph.yaml", "/numbers"),
    "iris": ("iris", "graph.yaml", "/iris"),
    "weights": ("model-weights", "graph.yaml", "/weights"),
    "fused-chain": ("fused-chain", "graph.yaml", "/fused"),
    "summaries": ("autoscaling", "graph.yaml", "/summaries"),
    "batching": ("batching", "graph.yaml", "/batching"),
    "multiplexing": ("multiplexing", "graph.yaml", "/multiplexing"),
    "inference-chain": ("inference-chain", "graph.yaml", "/inference-chain"),
    "reviews": ("fastapi-ingress", "graph.yaml", "/reviews"),
    "review": ("subgraphs", "graph.yaml", "/review"),
    "scoring": ("subgraphs", "graph-scoring.yaml", "/scoring"),
    "shop": ("soft-steps", "graph.yaml", "/shop"),
    "sentiment-quorum": ("quorum", "graph.yaml", "/quorum"),
    "canary": ("canary", "graph.yaml", "/canary"),
    "structured": ("structured-output", "graph.yaml", "/structured"),
    "tenants": ("request-context", "graph.yaml", "/tenants"),
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"examples-{layout}")
    files = [
        example_copy(folder, work, graph_file=manifest, route=route)
        for folder, manifest, route in EXAMPLES.values()
    ]
    # One graph turns its live page off, as a manifest may.
    weights = files[list(EXAMPLES).index("weights")]
    manifest = yaml.safe_load(weights.read_text())
    manifest["spec"]["ingress"]["http"]["graphPage"] = False
    weights.write_text(yaml.safe_dump(manifest))
    with braid_run(files, work, "--layout", layout) as launched:
        yield launched


def url(running: Running, graph: str) -> str:
    return f"http://{running.http}{EXAMPLES[graph][2]}"


def test_chain_answers_12_to_curl(running: Running) -> None:
    result = curl("-d", "5", url(running, "chain"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == 12


def test_subgraphs_review_calls_the_scoring_graph_as_a_step(running: Running) -> None:
    reply = post_json(running.http, EXAMPLES["review"][2], "Great product, works well!")
    assert reply.json() == {"text": "great product works well", "score": 2, "verdict": "publish"}
    failed = post_json(running.http, EXAMPLES["review"][2], "")
    assert failed.status == 500
    assert (failed.json()["error"]["node"], failed.json()["error"]["step"]) == (
        "scoring/lexicon",
        "scored",
    )


def test_chain_over_grpc(running: Running) -> None:
    result = grpcurl(running.grpc, "braid.v1.Graph/Invoke", '{"graph": "chain", "json": "5"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"json": "12"}


def test_hello_over_http_and_grpc(running: Running) -> None:
    assert json.loads(curl("-d", '"Ada"', url(running, "hello")).stdout) == "Hello, Ada!"
    reply = grpcurl(running.grpc, "braid.v1.Graph/Invoke", '{"graph": "hello", "json": "\\"Bo\\""}')
    assert json.loads(json.loads(reply.stdout)["json"]) == "Hello, Bo!"


@pytest.mark.parametrize("graph", ["languages", "languages-declarative"])
@pytest.mark.parametrize(
    ("language", "greeting"), [("spanish", "Hola Dora"), ("french", "Bonjour Dora")]
)
def test_dispatch_in_code_and_in_the_flow(
    running: Running, graph: str, language: str, greeting: str
) -> None:
    body = json.dumps({"language": language, "name": "Dora"})
    assert json.loads(curl("-d", body, url(running, graph)).stdout) == greeting
    data = json.dumps({"graph": graph, "json": body})
    reply = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
    assert json.loads(json.loads(reply.stdout)["json"]) == greeting


def test_declarative_dispatch_without_a_case_is_a_bad_request(running: Running) -> None:
    reply = post_json(
        running.http, EXAMPLES["languages-declarative"][2], {"language": "german", "name": "D"}
    )
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["step"] == "greeting" and "german" in error["message"]


def test_pass_by_reference_starts_the_consumer_before_the_value_is_ready(
    running: Running,
) -> None:
    reply = post_json(running.http, EXAMPLES["pass-by-reference"][2], 4)
    assert reply.status == 200
    assert reply.json() == {"total": 6, "started_before_ready": True}


def test_ensemble_fans_out_and_joins(running: Running) -> None:
    reply = post_json(running.http, EXAMPLES["ensemble"][2], "Hello World")
    assert reply.status == 200
    result = reply.json()
    # length 11/100, vowels 3/10, capitals 2/10, weights [1, 1, 2]
    assert result["scores"] == [0.11, 0.3, 0.2]
    assert result["score"] == round((0.11 + 0.3 + 2 * 0.2) / 4, 4)


def test_soft_steps_fall_back_and_say_so(running: Running) -> None:
    route = EXAMPLES["shop"][2]
    lamp = {"name": "Lamp", "text": "A bright lamp. Warm light"}
    plain = post_json(running.http, route, lamp)
    assert plain.json()["tags"] == ["bright", "lamp.", "light"]
    assert "braid-degraded" not in plain.headers
    slow = post_json(running.http, route, {**lamp, "tagger": "slow"})
    assert (slow.json()["tags"], slow.headers["braid-degraded"]) == ([], "tags")
    chair = {"name": "Chair", "text": "A sturdy chair. Oak", "summarizer": "broken"}
    report = post_json(running.http, route, chair, **{"Braid-Report": "degraded"}).json()
    assert report["output"]["summary"] == "Chair: A sturdy chair"  # the fallback call's
    [degraded] = report["degraded"]
    assert (degraded["step"], degraded["reason"]) == ("summary", "fallback")
    assert "after 3 attempts" in degraded["message"]
    flaky = post_json(
        running.http, route, {"name": "Desk", "text": "A wide desk", "summarizer": "flaky"}
    )
    assert flaky.json()["summary"] == "Desk: A wide desk"  # a retry answered
    assert "braid-degraded" not in flaky.headers


def test_quorum_answers_from_two_of_three_models(running: Running) -> None:
    route = EXAMPLES["sentiment-quorum"][2]
    full = post_json(running.http, route, {"text": "a good day"})
    assert full.json() == {"label": "positive", "models": 3, "missing": []}
    slow = post_json(running.http, route, {"text": "a good day, though a long one that ponders"})
    assert slow.json() == {"label": "positive", "models": 2, "missing": ["by-transformer"]}
    assert slow.headers["braid-degraded"] == "by-transformer"
    failed = post_json(running.http, route, {"text": "awful", "fail": "lexicon"})
    assert failed.json() == {"label": "negative", "models": 2, "missing": ["by-lexicon"]}


def test_content_understanding_over_http_and_grpc(running: Running) -> None:
    reply = post_json(running.http, EXAMPLES["content-understanding"][2], "synthetic://cat")
    assert reply.status == 200, reply.body
    report = reply.json()
    assert report["source"] == "synthetic://cat"
    assert sum(report["segments"].values()) == 64 * 64
    assert report["category"]["classifier"] in {"fruit", "car", "general"}
    assert isinstance(report["usable"], bool)
    data = json.dumps({"graph": "content-understanding", "json": '"synthetic://cat"'})
    grpc_reply = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
    assert json.loads(json.loads(grpc_reply.stdout)["json"]) == report


def test_content_understanding_names_the_failing_step(running: Running) -> None:
    reply = post_json(running.http, EXAMPLES["content-understanding"][2], "ftp://nowhere")
    assert reply.status == 500
    error = reply.json()["error"]
    assert (error["node"], error["step"]) == ("downloader", "downloaded")
    assert "unsupported URL" in error["message"]


def test_iris_classifies_flowers_with_real_models(running: Running) -> None:
    flowers = [[5.1, 3.5, 1.4, 0.2], [5.9, 3.0, 4.2, 1.5], [6.7, 3.0, 5.2, 2.3]]
    reply = post_json(running.http, EXAMPLES["iris"][2], flowers)
    assert reply.status == 200, reply.body
    answers = reply.json()
    assert [a["species"] for a in answers] == ["setosa", "versicolor", "virginica"]
    assert all(a["unanimous"] and 0.5 < a["confidence"] <= 1 for a in answers)
    data = json.dumps({"graph": "iris", "json": json.dumps(flowers)})
    grpc_reply = grpcurl(running.grpc, "braid.v1.Graph/Invoke", data)
    assert json.loads(json.loads(grpc_reply.stdout)["json"]) == answers
    bad = post_json(running.http, EXAMPLES["iris"][2], [[1, 2]])
    assert bad.status == 500
    assert (bad.json()["error"]["node"], bad.json()["error"]["step"]) == ("scaler", "features")


def test_http_model_server_node(running: Running) -> None:
    reply = post_json(running.http, EXAMPLES["sentiment"][2], "I love this great movie")
    assert reply.status == 200
    assert reply.json() == {"label": "positive", "score": 1.0}


def test_model_weights_runs_locally_without_its_pod_settings(running: Running) -> None:
    reply = post_json(running.http, EXAMPLES["weights"][2], "what a great day")
    assert reply.status == 200
    assert reply.json() == {"label": "positive", "score": 1.0, "weights": "built-in"}


def test_autoscaling_example_wakes_its_summarizer_from_zero(running: Running) -> None:
    # The summarizer starts with no replica (minReplicas 0): the request is held, not refused.
    reply = post_json(
        running.http, EXAMPLES["summaries"][2], "one  two three four five six seven eight nine"
    )
    assert (reply.status, reply.json()) == (200, "one two three four five six seven eight ..."), (
        reply.body  # the whole error, should the wake-up ever fail here
    )


def test_inference_chain_as_a_v2_model(running: Running) -> None:
    body = {"inputs": [{"name": "values", "datatype": "FP32", "shape": [2], "data": [1, 9]}]}
    result = curl("-d", json.dumps(body), f"http://{running.http}/v2/models/inference-chain/infer")
    outputs = {out["name"]: out for out in json.loads(result.stdout)["outputs"]}
    assert outputs["scaled"] == {
        "name": "scaled",
        "datatype": "FP32",
        "shape": [2],
        "data": [-2.0, 2.0],
    }
    assert outputs["outliers"]["data"] == [2]


def test_routes_and_readiness(running: Running) -> None:
    routes = json.loads(curl(f"http://{running.http}/-/routes").stdout)
    assert routes == {route: name for name, (_, _, route) in EXAMPLES.items()}
    ready = json.loads(curl(f"http://{running.http}/-/ready").stdout)
    assert ready == {"ready": True, "missing": [], "draining": False}
    health = grpcurl(running.grpc, "grpc.health.v1.Health/Check", '{"service": "braid.v1.Graph"}')
    assert json.loads(health.stdout) == {"status": "SERVING"}


def test_grpc_reflection_lists_the_services(running: Running) -> None:
    listed = subprocess.run(
        [GRPCURL, "-plaintext", running.grpc, "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "braid.v1.Graph" in listed.stdout.split()


def test_streaming_as_server_sent_events_with_curl(running: Running) -> None:
    result = curl("-N", "-H", "Accept: text/event-stream", "-d", "10", url(running, "streaming"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(f"data: {n}\n\n" for n in range(10))


def test_streaming_as_json_lines(running: Running) -> None:
    result = curl("-N", "-d", "5", url(running, "streaming"))
    assert [json.loads(line) for line in result.stdout.splitlines()] == [0, 1, 2, 3, 4]


def test_streaming_over_grpc(running: Running) -> None:
    data = '{"graph": "streaming", "json": "4"}'
    result = grpcurl(running.grpc, "braid.v1.Graph/InvokeStream", data)
    assert result.returncode == 0, result.stderr
    decoder, text, items = json.JSONDecoder(), result.stdout.strip(), []
    while text:
        item, end = decoder.raw_decode(text)
        items.append(json.loads(item["json"]))
        text = text[end:].strip()
    assert items == [0, 1, 2, 3]


def test_the_fastapi_example_scores_validates_and_streams(running: Running) -> None:
    base = url(running, "reviews")
    review = '{"text": "Great food, friendly staff", "stars": 5}'
    verdict = json.loads(curl("--json", review, f"{base}/score").stdout)
    assert verdict == {"label": "positive", "score": 2, "words": 4, "stars": 5, "agrees": True}
    bad = curl("-w", "\n%{http_code}", "--json", '{"text": "", "stars": 9}', f"{base}/score")
    body, status = bad.stdout.rsplit("\n", 1)
    assert status == "422"
    assert [e["loc"] for e in json.loads(body)["detail"]] == [["body", "text"], ["body", "stars"]]
    review = '{"text": "Cold soup, rude waiter", "stars": 1}'
    events = curl("-N", "--json", review, f"{base}/words").stdout
    assert events.startswith('data: {"index": 0, "word": "cold", "tone": -1}\n\n')
    assert events.count("data: ") == 4
    schema = json.loads(curl(f"{base}/openapi.json").stdout)
    assert set(schema["paths"]) == {"/score", "/words", "/health"}
    assert "/reviews/openapi.json" in curl(f"{base}/docs").stdout


def test_fused_chain_answers_through_its_co_located_group(running: Running) -> None:
    for _ in range(2):  # the second request rides as continuations, in process
        assert post_json(running.http, "/fused", "5").json() == {"value": 10.0, "big": False}


def test_ingress_metrics_count_requests_per_graph_and_status(running: Running) -> None:
    post_json(running.http, EXAMPLES["chain"][2], 1)
    metrics = curl(running.status["metrics"]).stdout
    assert 'braid_ingress_requests_total{graph="chain",protocol="http",status="200"}' in metrics
    assert "braid_ingress_request_duration_seconds_bucket" in metrics
    assert 'braid_ingress_in_flight_requests{graph="chain",protocol="http"} 0.0' in metrics


def _readme_calls() -> list[tuple[str, list[str], str]]:
    """Each ``$ curl [-H HEADER] -d BODY localhost:8000/PATH`` of an example's README with the
    answer shown on the next line: (the example's name here, the curl arguments before the URL, the answer)."""
    found = []
    for name, (folder, manifest, _) in EXAMPLES.items():
        if manifest != "graph.yaml":
            continue
        lines = (ROOT / "examples" / folder / "README.md").read_text().splitlines()
        for line, answer in itertools.pairwise(lines):
            if not line.startswith("$ curl ") or answer.startswith("```"):
                continue
            words = shlex.split(line[2:])[1:]
            options, url = words[:-1], words[-1] if words else ""
            pairs = list(zip(options[::2], options[1::2], strict=False))
            plain = len(options) % 2 == 0 and {flag for flag, _ in pairs} <= {"-d", "-H"}
            streams = any(value.lower().startswith("accept") for _, value in pairs)
            if plain and not streams and "-d" in options and url.startswith("localhost:8000/"):
                found.append((name, options, answer))
    return found


@pytest.mark.parametrize(("name", "arguments", "answer"), _readme_calls())
def test_each_readme_shows_what_braid_answers(
    running: Running, name: str, arguments: list[str], answer: str
) -> None:
    result = curl(*arguments, url(running, name))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == answer


def test_the_graph_pages_index_lists_every_graph_whose_page_is_on(running: Running) -> None:
    index = curl("-sS", f"http://{running.http}/-/graph")
    assert index.returncode == 0, index.stderr
    for name in EXAMPLES:
        assert (f'href="/-/graph/{name}"' in index.stdout) == (name != "weights"), name


def test_a_graph_page_is_one_offline_page_with_its_picture_and_live_figures(
    running: Running,
) -> None:
    base = f"http://{running.http}/-/graph/chain"
    page = curl("-sS", "-i", base)
    assert "content-type: text/html; charset=utf-8" in page.stdout.lower()
    assert "<script>" in page.stdout and "/-/graph/chain" in page.stdout
    # Offline: nothing is loaded from elsewhere (no CDN, no external script or style).
    assert "http://" not in page.stdout and "https://" not in page.stdout
    assert " src=" not in page.stdout and "<link" not in page.stdout
    picture = curl("-sS", "-i", f"{base}/picture.svg")
    assert "content-type: image/svg+xml" in picture.stdout.lower()
    assert 'data-node="adder"' in picture.stdout and 'data-node="multiplier"' in picture.stdout
    for number in range(5):
        assert json.loads(curl("-d", str(number), url(running, "chain")).stdout) == (number + 1) * 2
    figures = json.loads(curl("-sS", f"{base}/figures.json").stdout)
    assert figures["graph"] == "chain"
    for node in ("adder", "multiplier"):
        shown = figures["nodes"][node]
        assert shown["ready"] == shown["desired"] == 1
        assert shown["scraped"] == 1
        assert shown["requests"] >= 5  # read from the replica's own metrics
        assert shown["errors"] == 0
        assert shown["p50Ms"] is not None and shown["p50Ms"] > 0


def test_graph_pages_refuse_what_they_do_not_serve(running: Running) -> None:
    def status(*args: str) -> tuple[str, str]:
        result = curl("-sS", "-o", "-", "-w", "\\n%{http_code}", *args)
        body, _, code = result.stdout.rpartition("\n")
        return code, body

    code, body = status(f"http://{running.http}/-/graph/weights")
    assert code == "404" and "graphPage: false" in body
    code, body = status(f"http://{running.http}/-/graph/nope")
    assert code == "404" and json.loads(body)["error"]["message"].startswith('no graph "nope"')
    code, body = status(f"http://{running.http}/-/graph/chain/other.txt")
    assert code == "404"
    code, _ = status("-X", "POST", "-d", "x", f"http://{running.http}/-/graph/chain")
    assert code == "405"
