"""How a provider's record moves its commission rate, in percentage points (see ``commission``).

With at least ``min_loans`` loans of history: default rate above 10% +1 point (above 20% +2 points);
approval rate below 20% +0.5 point; default rate at most 3% with approval rate at least 50% -0.5 point.
The total is bounded to [-1, +2] points. Points are fractions: 0.01 is one percentage point.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tools.platform.domain.money_format import format_percent

__all__ = [
    "DEFAULT_PERFORMANCE_RULES",
    "PerformanceRules",
    "ProviderPerformance",
    "format_points",
    "performance_points",
]


def _fraction(name: str, value: Decimal, low: Decimal = Decimal(0)) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or not low <= value <= 1:
        raise ValueError(f"{name} must be a Decimal fraction from {low} to 1; got {value!r}")


def _count(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative whole number; got {value!r}")


@dataclass(frozen=True, slots=True)
class ProviderPerformance:
    """``approval_rate``: share of routed applications approved; ``default_rate``: share of the
    provider's ``loans`` in default."""

    approval_rate: Decimal
    default_rate: Decimal
    loans: int

    def __post_init__(self) -> None:
        _fraction("approval_rate", self.approval_rate)
        _fraction("default_rate", self.default_rate)
        _count("loans", self.loans)


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceRules:
    """Rate adjustments in percentage points as fractions (0.01 = 1 point); see the module docstring."""

    min_loans: int = 20
    default_steps: tuple[tuple[Decimal, Decimal], ...] = (
        (Decimal("0.10"), Decimal("0.01")),
        (Decimal("0.20"), Decimal("0.02")),
    )
    low_approval_rate: Decimal = Decimal("0.20")
    low_approval_points: Decimal = Decimal("0.005")
    good_default_rate: Decimal = Decimal("0.03")
    good_approval_rate: Decimal = Decimal("0.50")
    good_points: Decimal = Decimal("0.005")
    lowest_points: Decimal = Decimal("-0.01")
    highest_points: Decimal = Decimal("0.02")

    def __post_init__(self) -> None:
        _count("min_loans", self.min_loans)
        for threshold, points in self.default_steps:
            _fraction("a default-rate threshold", threshold)
            _fraction("default-rate points", points)
        for name in ("low_approval_rate", "low_approval_points", "good_default_rate", "good_approval_rate"):
            _fraction(name, getattr(self, name))
        _fraction("good_points", self.good_points)
        _fraction("lowest_points", self.lowest_points, Decimal(-1))
        _fraction("highest_points", self.highest_points)
        if self.lowest_points > 0:
            raise ValueError("lowest_points must be zero or negative")


DEFAULT_PERFORMANCE_RULES = PerformanceRules()


def performance_points(
    performance: ProviderPerformance | None, rules: PerformanceRules | None = DEFAULT_PERFORMANCE_RULES
) -> tuple[Decimal, tuple[str, ...]]:
    """The adjustment in points (a fraction) and the reasons for it, bounded as the rules say."""
    if performance is None or rules is None:
        return Decimal(0), ()
    if performance.loans < rules.min_loans:
        return Decimal(0), (
            f"no adjustment: {performance.loans} loans of history, fewer than {rules.min_loans}",
        )
    points, reasons = Decimal(0), []
    exceeded = [step for step in rules.default_steps if performance.default_rate > step[0]]
    if exceeded:
        threshold, step_points = max(exceeded)
        points += step_points
        reasons.append(
            f"default rate {format_percent(performance.default_rate)} is above "
            f"{format_percent(threshold)}: +{format_points(step_points)}"
        )
    if performance.approval_rate < rules.low_approval_rate:
        points += rules.low_approval_points
        reasons.append(
            f"approval rate {format_percent(performance.approval_rate)} is below "
            f"{format_percent(rules.low_approval_rate)}: +{format_points(rules.low_approval_points)}"
        )
    if (
        performance.default_rate <= rules.good_default_rate
        and performance.approval_rate >= rules.good_approval_rate
    ):
        points -= rules.good_points
        reasons.append(
            f"default rate at most {format_percent(rules.good_default_rate)} and approval rate at least "
            f"{format_percent(rules.good_approval_rate)}: -{format_points(rules.good_points)}"
        )
    bounded = min(max(points, rules.lowest_points), rules.highest_points)
    if bounded != points:
        reasons.append(f"adjustment bounded to {format_points(bounded)}")
    return bounded, tuple(reasons)


def format_points(fraction: Decimal) -> str:
    """0.01 -> "1 point", 0.005 -> "0.5 points", -0.01 -> "-1 point"."""
    figure = format((fraction * 100).normalize(), "f")
    return f"{figure} point{'' if abs(fraction) == Decimal('0.01') else 's'}"
