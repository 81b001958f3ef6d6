"""benchmarks._targets: verdicts of issues 5 and 11's targets from a run's results."""

from benchmarks._results import BRAID, FLOOR, RAY, Measurement, Results, Status
from benchmarks._stats import Summary
from benchmarks._targets import evaluate


def _ok(p50: float, p99: float | None = None, rps: float = 100.0) -> Measurement:
    summary = Summary(1000, p50, p50, p99 or p50 * 2, p50, p50, p99 or p50, rps)
    return Measurement(Status.OK, summary)


def _by_text(results: Results) -> dict[str, bool | None]:
    return {v.text: v.met for v in evaluate(results)}


def test_chain_targets_compare_p50_with_ray_and_floor() -> None:
    results: Results = {"chain-3": {RAY: _ok(16.0), FLOOR: _ok(1.5), BRAID: _ok(2.2)}}
    found = _by_text(results)
    assert found["chain-3 p50_ms: braid/ray <= 0.15"] is True  # 2.2 / 16
    assert found["chain-3 p50_ms: braid/floor <= 1.3"] is False  # 2.2 / 1.5


def test_throughput_target_is_a_lower_bound() -> None:
    row = {RAY: _ok(300.0, rps=80.0), BRAID: _ok(40.0, rps=800.0)}
    (verdict,) = [v for v in evaluate({"http-chain-3": row}) if "braid/ray" in v.text]
    assert verdict.met is True
    assert verdict.value == 10.0


def test_chain_3_at_64_in_flight_is_judged_on_throughput_against_the_floor() -> None:
    results: Results = {"chain-3@64": {FLOOR: _ok(20.0, rps=1000.0), BRAID: _ok(40.0, rps=650.0)}}
    (verdict,) = [v for v in evaluate(results) if "throughput" in v.text]
    assert verdict.text == "chain-3@64 throughput_rps: braid/floor >= 0.7"
    assert (verdict.met, verdict.value) == (False, 0.65)


def test_memory_target_reads_rss_from_details() -> None:
    row = {
        RAY: Measurement(Status.OK, None, {"rss_mb": 140.0}),
        BRAID: Measurement(Status.OK, None, {"rss_mb": 80.0}),
    }
    (verdict,) = [v for v in evaluate({"idle-memory": row}) if "idle-memory" in v.text]
    assert verdict.met is False
    assert verdict.value == 80.0 / 140.0


def test_an_unavailable_side_gives_no_verdict_and_says_why() -> None:
    unavailable = Measurement(Status.UNAVAILABLE, error="no braid run")
    verdicts = evaluate({"fanout-3": {RAY: _ok(19.0), BRAID: unavailable}})
    fanout = next(v for v in verdicts if v.text.startswith("fanout-3"))
    assert fanout.met is None
    assert fanout.note == "not measured: braid"
    tail = verdicts[-1]
    assert tail.met is None


def test_tail_is_judged_per_braid_workload() -> None:
    results: Results = {
        "chain-1": {BRAID: _ok(1.0, p99=2.9)},
        "chain-8": {BRAID: _ok(1.0, p99=3.1)},
    }
    tails = {v.text: v.met for v in evaluate(results) if "tail" in v.text}
    assert tails == {
        "chain-1 tail: braid p99/p50 <= 3": True,
        "chain-8 tail: braid p99/p50 <= 3": False,
    }


def test_workloads_not_run_get_no_verdict() -> None:
    verdicts = evaluate({"chain-1": {RAY: _ok(5.0)}})
    assert [v.text for v in verdicts] == ["tail: braid p99/p50 <= 3"]


def test_fused_chain_3_is_judged_against_the_floors_plain_chain_3() -> None:
    results: Results = {
        "chain-3": {FLOOR: _ok(2.0), BRAID: _ok(3.0)},
        "fused-chain-3": {FLOOR: Measurement(Status.UNAVAILABLE), BRAID: _ok(0.9)},
    }
    verdict = next(v for v in evaluate(results) if v.text.startswith("fused-chain-3 p50"))
    assert verdict.text == "fused-chain-3 p50_ms: braid/floor chain-3 <= 0.5"
    assert (verdict.met, verdict.value) == (True, 0.45)


def test_fused_chain_3_without_the_floors_chain_3_gives_no_verdict() -> None:
    verdicts = evaluate({"fused-chain-3": {BRAID: _ok(0.9)}})
    verdict = next(v for v in verdicts if v.text.startswith("fused-chain-3 p50"))
    assert verdict.met is None
    assert verdict.note == "not measured: floor"
