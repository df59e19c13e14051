"""Percentiles from cumulative histogram buckets, as PromQL's histogram_quantile reads them."""

from __future__ import annotations

import math

import pytest

from tools.monitoring.domain.latency import HISTOGRAM, Sample, ToolLatency, quantile, tool_latency

INF = math.inf


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(0.1, 5), (0.5, 10), (INF, 10)], 0.1),  # the rank ends the first bucket exactly
        (0.95, [(0.1, 5), (0.5, 10), (INF, 10)], 0.1 + 0.4 * 4.5 / 5),  # interpolated in the second
        (0.25, [(0.1, 4), (INF, 4)], 0.025),  # from zero in the first bucket
        (0.99, [(0.1, 1), (INF, 10)], 0.1),  # in +Inf: the highest finite bound
        (0.5, [(0.1, 0), (0.5, 0), (1.0, 4), (INF, 4)], 0.75),  # empty buckets below are skipped
    ],
)
def test_quantile_interpolates_inside_the_bucket_that_reaches_the_rank(
    q: float, buckets: list[tuple[float, float]], expected: float
) -> None:
    assert quantile(q, buckets) == pytest.approx(expected)


def test_no_observations_have_no_quantile() -> None:
    assert quantile(0.5, []) is None
    assert quantile(0.5, [(0.1, 0), (INF, 0)]) is None


def sample(suffix: str, tool: str, outcome: str, value: float, le: str | None = None) -> Sample:
    labels = {"tool": tool, "outcome": outcome} | ({"le": le} if le else {})
    return Sample(f"{HISTOGRAM}_{suffix}", labels, value)


def test_outcomes_are_merged_per_tool_and_errors_counted_apart() -> None:
    samples = [
        sample("bucket", "a", "ok", 3, "0.1"),
        sample("bucket", "a", "ok", 3, "+Inf"),
        sample("count", "a", "ok", 3),
        sample("sum", "a", "ok", 0.2),
        sample("bucket", "a", "error", 0, "0.1"),
        sample("bucket", "a", "error", 1, "+Inf"),
        sample("count", "a", "error", 1),
        Sample("caas_tool_errors_total", {"tool": "a", "code": "internal"}, 1),
        Sample(f"{HISTOGRAM}_count", {}, 5),  # not a tool's series
    ]
    [row] = tool_latency(samples)
    assert row == ToolLatency(tool="a", calls=4, errors=1, p50=pytest.approx(0.1 * 2 / 3), p95=0.1, p99=0.1)
