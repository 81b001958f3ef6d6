"""benchmarks._report and benchmarks._results: the table, the ratios and the JSON document."""

import json

from benchmarks._report import document, table, verdict_lines
from benchmarks._results import (
    BRAID,
    FLOOR,
    RAY,
    Measurement,
    Results,
    Status,
    ratios,
    results_from_json,
)
from benchmarks._stats import Summary
from benchmarks._targets import evaluate


def _ok(p50: float, rps: float) -> Measurement:
    return Measurement(Status.OK, Summary(100, p50, p50, p50 * 2, p50, p50, p50 * 2, rps))


def _results() -> Results:
    return {
        "chain-3": {RAY: _ok(16.0, 60.0), FLOOR: _ok(2.0, 500.0), BRAID: _ok(4.0, 240.0)},
        "idle-memory": {
            RAY: Measurement(Status.OK, None, {"rss_mb": 140.0}),
            FLOOR: Measurement(Status.OK, None, {"rss_mb": 35.0}),
            BRAID: Measurement(Status.UNAVAILABLE, error="braid run is missing"),
        },
    }


def test_ratios_divide_braid_by_each_baseline() -> None:
    found = ratios(_results()["chain-3"])
    assert found["braid/ray"]["p50_ms"] == 0.25
    assert found["braid/ray"]["throughput_rps"] == 4.0
    assert found["braid/floor"]["p50_ms"] == 2.0


def test_ratios_leave_out_what_a_side_did_not_measure() -> None:
    assert ratios(_results()["idle-memory"]) == {"braid/ray": {}, "braid/floor": {}}


def test_table_has_a_row_per_workload_with_status_and_ratios() -> None:
    lines = table(_results()).splitlines()
    assert lines[0].startswith("| workload")
    assert len(lines) == 4
    chain = lines[2]
    assert "16.0" in chain
    assert "0.25x" in chain
    assert "2.00x" in chain
    assert "not available" in lines[3]
    assert "140 MB" in lines[3]
    assert len({len(line) for line in lines}) == 1  # columns line up


def test_verdict_lines_flag_each_target() -> None:
    text = verdict_lines(evaluate(_results()))
    assert "NOT MET chain-3 p50_ms: braid/ray <= 0.15: measured 0.25" in text
    assert "NOT MET chain-3 p50_ms: braid/floor <= 1.3: measured 2.00" in text
    assert "N/A     idle-memory rss_mb: braid/ray <= 0.5" in text


def test_document_is_json_with_results_ratios_and_targets() -> None:
    results = _results()
    doc = document(results, evaluate(results), {"cores": 2}, {"requests": "1000"})
    parsed = json.loads(json.dumps(doc))
    assert parsed["results"]["chain-3"]["braid"]["p50_ms"] == 4.0
    assert parsed["results"]["idle-memory"]["braid"] == {
        "status": "not available",
        "error": "braid run is missing",
    }
    assert parsed["ratios"]["chain-3"]["braid/ray"]["p50_ms"] == 0.25
    assert {t["met"] for t in parsed["targets"]} == {True, False, None}


def test_table_has_columns_only_for_the_systems_that_ran() -> None:
    results: Results = {"chain-3": {RAY: _ok(16.0, 60.0), FLOOR: _ok(2.0, 500.0)}}
    header = table(results).splitlines()[0]
    assert "floor rps" in header
    assert "braid" not in header
    assert "b/ray" not in header


def test_results_survive_a_round_trip_through_json() -> None:
    results = _results()
    doc = json.loads(json.dumps(document(results, [], {}, {})))
    again = results_from_json(doc["results"])
    assert again == results


def test_cpu_time_per_request_is_a_column_beside_latency_and_a_ratio() -> None:
    results = _results()
    results["chain-3"][FLOOR].detail["cpu_ms_per_request"] = 0.5
    results["chain-3"][BRAID].detail["cpu_ms_per_request"] = 1.25
    lines = table(results).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    chain = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert header[1:5] == ["ray p50", "ray p99", "ray rps", "ray cpu"]
    assert chain[header.index("floor cpu")] == "0.50"
    assert chain[header.index("braid cpu")] == "1.25"
    assert chain[header.index("ray cpu")] == "-"
    assert ratios(results["chain-3"])["braid/floor"]["cpu_ms_per_request"] == 2.5
