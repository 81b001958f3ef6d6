"""benchmarks._wrk: the Lua script and the parsing of its summary line."""

import pytest

from benchmarks._wrk import WrkError, parse, script, summarize

_LINE = (
    'WRK_JSON {"requests": 1000.0, "duration_us": 2000000.0, "connect": 0.0, "read": 0.0, '
    '"write": 0.0, "status": 10.0, "timeout": 0.0, "p50_us": 1500.0, "p90_us": 2500.0, '
    '"p99_us": 4000.0, "mean_us": 1700.0, "min_us": 300.0, "max_us": 9000.0}'
)


def test_script_posts_the_json_body() -> None:
    lua = script("1")
    assert 'wrk.method = "POST"' in lua
    assert 'wrk.body = "1"' in lua
    assert "WRK_JSON" in lua


def test_parse_finds_the_summary_among_other_output() -> None:
    raw = parse(f"Running 2s test @ http://127.0.0.1:1/\n{_LINE}\nRequests/sec: 500\n")
    assert raw["requests"] == 1000.0


def test_parse_without_a_summary_quotes_the_output() -> None:
    with pytest.raises(WrkError, match="unable to connect"):
        parse("unable to connect to 127.0.0.1:1 Connection refused")


def test_summarize_counts_only_successful_requests_in_throughput() -> None:
    summary, detail = summarize(parse(_LINE))
    assert summary.throughput_rps == 495.0  # (1000 - 10 bad statuses) / 2 s
    assert summary.p50_ms == 1.5
    assert summary.p99_ms == 4.0
    assert detail == {"errors": {"connect": 0, "read": 0, "write": 0, "status": 10, "timeout": 0}}
