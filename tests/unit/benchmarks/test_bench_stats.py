"""benchmarks._stats: percentiles, summaries and ratios."""

import pytest

from benchmarks._stats import percentile, ratio, summarize


def test_percentile_interpolates_between_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile(values, 99) == pytest.approx(3.97)


def test_percentile_of_one_sample_is_that_sample() -> None:
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("q", [-1, 101])
def test_percentile_outside_range_is_refused(q: float) -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.100"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_summarize_converts_to_milliseconds_and_requests_per_second() -> None:
    samples = [3_000_000, 1_000_000, 2_000_000, 4_000_000]  # unsorted, in ns
    summary = summarize(samples, elapsed_ns=2_000_000_000)
    assert summary.samples == 4
    assert summary.p50_ms == 2.5
    assert summary.min_ms == 1.0
    assert summary.max_ms == 4.0
    assert summary.mean_ms == 2.5
    assert summary.throughput_rps == 2.0


def test_summarize_refuses_empty_or_timeless_runs() -> None:
    with pytest.raises(ValueError, match="no samples"):
        summarize([], 1)
    with pytest.raises(ValueError, match="positive"):
        summarize([1], 0)


def test_ratio_is_none_when_a_side_is_missing_or_zero() -> None:
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(None, 4.0) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None
