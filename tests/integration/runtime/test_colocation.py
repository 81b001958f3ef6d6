"""Co-location through `braid run`, in both layouts: a fused chain answers like the same chain
unfused, over HTTP and gRPC, and a member that raises is named with its step (decision 0009)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from edge_harness import GRPCURL, Running, braid_run, example_copy, grpcurl, post_json


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Iterator[Running]:
    work = tmp_path_factory.mktemp(f"colocation-{layout}")
    fused = example_copy("fused-chain", work, route="/fused")
    plain = work / "plain" / "graph.yaml"
    plain.parent.mkdir()
    manifest = yaml.safe_load(fused.read_text())
    del manifest["spec"]["groups"]
    manifest["metadata"]["name"] = "plain-chain"
    manifest["spec"]["ingress"]["http"]["routePrefix"] = "/plain"
    plain.write_text(yaml.safe_dump(manifest))
    for entry in Path(fused.parent).iterdir():
        if entry.suffix == ".py":
            (plain.parent / entry.name).symlink_to(entry.resolve())
    with braid_run([fused, plain], work, "--layout", layout) as launched:
        yield launched


def test_one_process_per_group_replica(running: Running) -> None:
    replicas = [p["name"] for p in running.status["processes"] if p["name"].startswith("replica")]
    assert sorted(r for r in replicas if "fused-chain" in r) == [
        "replica fused-chain/pipeline#0",
        "replica fused-chain/pipeline#1",
    ]


def test_the_fused_chain_answers_like_the_plain_one_over_http(running: Running) -> None:
    for value in ("5", 7, "2.5"):  # later requests ride as continuations, in process
        fused = post_json(running.http, "/fused", value)
        plain = post_json(running.http, "/plain", value)
        assert (fused.status, fused.json()) == (plain.status, plain.json())
    assert post_json(running.http, "/fused", 6).json() == {"value": 12.0, "big": True}


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl is not installed")
def test_the_fused_chain_answers_over_grpc(running: Running) -> None:
    for _ in range(3):
        result = grpcurl(
            running.grpc, "braid.v1.Graph/Invoke", '{"graph": "fused-chain", "json": "\\"5\\""}'
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(json.loads(result.stdout)["json"]) == {"value": 10.0, "big": False}


def test_a_co_located_member_that_raises_is_named_with_its_step(running: Running) -> None:
    for _ in range(3):  # the first request and the continuations after it
        reply = post_json(running.http, "/fused", -1)
        assert reply.status == 500
        error = reply.json()["error"]
        assert (error["kind"], error["node"], error["step"]) == ("UserCodeError", "scale", "scaled")
        assert error["type"] == "ValueError"
        assert 'node "scale" (step "scaled") raised ValueError' in error["message"]


def test_a_member_that_raises_first_is_named_too(running: Running) -> None:
    reply = post_json(running.http, "/fused", "not a number")
    error = reply.json()["error"]
    assert (reply.status, error["node"], error["step"]) == (500, "parse", "parsed")
