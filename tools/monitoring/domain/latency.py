"""Tool latency and errors from the samples of the ``caas_tool_call_seconds`` histogram (labels
``tool`` and ``outcome``), the way Prometheus's ``histogram_quantile`` reads cumulative buckets: the
quantile's rank is found in the first bucket that reaches it, and interpolated linearly inside it."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["HISTOGRAM", "Sample", "ToolLatency", "quantile", "tool_latency"]

HISTOGRAM = "caas_tool_call_seconds"


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample of the Prometheus text format: ``name{labels} value``."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class ToolLatency:
    tool: str
    calls: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The ``q`` quantile (0..1) of cumulative ``(upper bound, count)`` buckets; None without
    observations. A rank in the +Inf bucket answers the highest finite bound, as Prometheus does."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in ordered:
        if count >= rank:
            if math.isinf(upper):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower  # pragma: no cover - the last bucket always reaches the rank


def tool_latency(samples: Iterable[Sample]) -> list[ToolLatency]:
    """Per tool, calls and errors (``outcome="error"``) and p50/p95/p99 seconds over every outcome."""
    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    calls: dict[str, float] = defaultdict(float)
    errors: dict[str, float] = defaultdict(float)
    for sample in samples:
        tool = sample.labels.get("tool")
        if tool is None:
            continue
        if sample.name == f"{HISTOGRAM}_bucket":
            buckets[tool][float(sample.labels["le"])] += sample.value
        elif sample.name == f"{HISTOGRAM}_count":
            calls[tool] += sample.value
            if sample.labels.get("outcome") == "error":
                errors[tool] += sample.value
    rows = []
    for tool in sorted(calls):
        cumulative = list(buckets[tool].items())
        rows.append(
            ToolLatency(
                tool=tool,
                calls=round(calls[tool]),
                errors=round(errors[tool]),
                p50=quantile(0.5, cumulative),
                p95=quantile(0.95, cumulative),
                p99=quantile(0.99, cumulative),
            )
        )
    return rows
