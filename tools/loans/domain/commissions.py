"""The marketplace's commission on a provider's loan: at disbursement on the principal, and a share of the
interest each repayment collects. Amounts in minor units; rates are Decimal fractions (0.085 = 8.5%).

``PlanTerms`` is a plan in one currency, ready to compute; ``terms_from_plan`` builds it from the stored
``commission_plan.CommissionPlan`` of a provider (whose tiers are whole-amount, as that module documents).

- Rate: ``DEFAULT_RATE`` (8.5%) of the principal, or ``tiers``: each applies from ``from_minor`` of
  principal upward, ``rate`` below the first tier. Two ways to apply them (``Tiering``):
  MARGINAL (the default for terms built here), like income-tax brackets: each band's rate applies only
  to the part of the principal inside that band (8.5% of the first 1,000,000.00 and 7% of the rest), so
  a larger loan never earns less commission than a smaller one. WHOLE_AMOUNT: the band the principal
  falls in sets one rate for the whole principal; simpler to quote, but at a band's edge one more unit
  of principal can lower the commission (8.5% of 999,999.99 is more than 7% of 1,000,000.00).
- Performance (``commission_performance``): with at least ``min_loans`` loans of history, the
  provider's rate moves by percentage points, shown as one line on the whole principal: default rate
  above 10% +1 point (above 20% +2 points); approval rate below 20% +0.5 point; default rate at most 3%
  with approval rate at least 50% -0.5 point. The total adjustment is bounded to [-1, +2] points, and
  the commission is never negative.
- Interest share: ``interest_share`` of the interest part of each repayment (e.g. 10%).
- Caps per loan: the commission at disbursement is at least ``minimum``; everything the loan earns
  (disbursement plus every interest share) is at most ``maximum``, so interest shares stop at the cap.
- Rounding: each band's commission and the performance line are rounded half-up to a minor unit and
  the commission is their sum, so the breakdown always adds up; each interest share is rounded half-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from itertools import pairwise

from tools.loans.domain.commission_performance import (
    DEFAULT_PERFORMANCE_RULES,
    PerformanceRules,
    ProviderPerformance,
    format_points,
    performance_points,
)
from tools.loans.domain.commission_plan import CommissionPlan
from tools.platform.domain.money import currency_exponent
from tools.platform.domain.money_format import format_money, format_percent

__all__ = [
    "DEFAULT_PERFORMANCE_RULES",
    "DEFAULT_RATE",
    "DEFAULT_TERMS",
    "CommissionLine",
    "CommissionPreview",
    "PerformanceRules",
    "PlanTerms",
    "ProviderPerformance",
    "Tier",
    "Tiering",
    "disbursement_commission",
    "performance_points",
    "preview_commission",
    "repayment_commission",
    "terms_from_plan",
]

DEFAULT_RATE = Decimal("0.085")
_CONTEXT = Context(prec=50)


def _fraction(name: str, value: Decimal, low: Decimal = Decimal(0)) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or not low <= value <= 1:
        raise ValueError(f"{name} must be a Decimal fraction from {low} to 1; got {value!r}")


def _minor(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative whole number of minor units; got {value!r}")


def _half_up(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


class Tiering(StrEnum):
    MARGINAL = "marginal"
    WHOLE_AMOUNT = "whole_amount"


@dataclass(frozen=True, slots=True)
class Tier:
    """``rate`` applies from ``from_minor`` of principal upward (to the next tier's ``from_minor``)."""

    from_minor: int
    rate: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanTerms:
    """A commission plan in one currency. ``currency`` is required when the terms name amounts (tiers,
    ``minimum``, ``maximum``: minor units of it). ``performance_rules`` None turns the adjustment off."""

    name: str = "standard"
    currency: str | None = None
    rate: Decimal = DEFAULT_RATE
    tiers: tuple[Tier, ...] = ()
    tiering: Tiering = Tiering.MARGINAL
    interest_share: Decimal = Decimal(0)
    minimum: int = 0
    maximum: int | None = None
    performance_rules: PerformanceRules | None = DEFAULT_PERFORMANCE_RULES

    def __post_init__(self) -> None:
        _fraction("rate", self.rate)
        _fraction("interest_share", self.interest_share)
        object.__setattr__(self, "tiering", Tiering(self.tiering))  # "marginal" -> Tiering.MARGINAL
        _minor("minimum", self.minimum)
        if self.maximum is not None:
            _minor("maximum", self.maximum)
            if self.maximum < self.minimum:
                raise ValueError(f"maximum {self.maximum} is below minimum {self.minimum}")
        for tier in self.tiers:
            _minor("a tier's from_minor", tier.from_minor)
            _fraction("a tier's rate", tier.rate)
        if any(b.from_minor <= a.from_minor for a, b in pairwise(self.tiers)):
            raise ValueError("tiers must be in order of from_minor, each starting above the one before")
        if self.currency is not None:
            currency_exponent(self.currency)
        elif self.minimum or self.maximum is not None or self.tiers:
            raise ValueError("terms with tiers, a minimum or a maximum must name their currency")

    def bands(self) -> tuple[Tier, ...]:
        """Every band from 0 upward: ``rate`` below the first tier, then the tiers."""
        if self.tiers and self.tiers[0].from_minor == 0:
            return self.tiers
        return (Tier(0, self.rate), *self.tiers)


DEFAULT_TERMS = PlanTerms()


def terms_from_plan(
    plan: CommissionPlan,
    currency: str,
    *,
    name: str = "provider plan",
    minimum: int = 0,
    performance_rules: PerformanceRules | None = DEFAULT_PERFORMANCE_RULES,
) -> PlanTerms:
    """The terms of a stored plan for loans in ``currency``: its rate, that currency's tiers applied to
    the WHOLE amount (as ``commission_plan`` documents), that currency's cap as the maximum, its
    interest share; ``minimum`` and the performance rules are not part of the stored plan."""
    currency_exponent(currency)
    return PlanTerms(
        name=name,
        currency=currency,
        rate=plan.principal_rate,
        tiers=tuple(Tier(t.from_principal_minor, t.principal_rate) for t in plan.tiers_for(currency)),
        tiering=Tiering.WHOLE_AMOUNT,
        interest_share=plan.interest_share,
        minimum=minimum,
        maximum=plan.cap_for(currency),
        performance_rules=performance_rules,
    )


@dataclass(frozen=True, slots=True)
class CommissionLine:
    """One line of a breakdown: ``amount`` minor units earned on ``basis`` at ``rate``."""

    label: str
    basis: int
    rate: Decimal
    amount: int
    explanation: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommissionPreview:
    """``upfront`` = the sum of every line but the last "interest share" one (bands, performance, any
    minimum or maximum line); ``interest_share`` = the share of ``expected_interest``, rounded once and
    within the maximum (an estimate: each repayment's share is rounded on its own); ``total`` = upfront
    + interest_share = the sum of all the lines."""

    plan: str
    currency: str
    principal: int
    points: Decimal
    lines: tuple[CommissionLine, ...]
    upfront: int
    expected_interest: int
    interest_share: int
    total: int


def _check_loan(terms: PlanTerms, amount: int, currency: str) -> None:
    currency_exponent(currency)
    _minor("amount", amount)
    if terms.currency is not None and terms.currency != currency:
        raise ValueError(f"plan {terms.name!r} is in {terms.currency}; this loan is in {currency}")


def _band_lines(terms: PlanTerms, principal: int, currency: str) -> list[CommissionLine]:
    money, bands = format_money, terms.bands()
    if terms.tiering is Tiering.WHOLE_AMOUNT:
        band = max((b for b in bands if b.from_minor <= principal), key=lambda b: b.from_minor)
        amount = _half_up(principal * band.rate)
        text = f"{money(amount, currency)}: {format_percent(band.rate)} of {money(principal, currency)}"
        if len(bands) > 1:
            text += f" (the whole amount, at the rate for principals from {money(band.from_minor, currency)})"
        return [CommissionLine("band 1", principal, band.rate, amount, text)]
    lines: list[CommissionLine] = []
    for band, upper_band in zip(bands, [*bands[1:], None], strict=True):
        upper = principal if upper_band is None else min(principal, upper_band.from_minor)
        if upper <= band.from_minor:
            break
        basis = upper - band.from_minor
        amount = _half_up(basis * band.rate)
        text = f"{money(amount, currency)}: {format_percent(band.rate)} of {money(basis, currency)}"
        if len(bands) > 1:
            text += (
                f" (the part above {money(band.from_minor, currency)})"
                if band.from_minor
                else " (the first band)"
            )
        lines.append(CommissionLine(f"band {len(lines) + 1}", basis, band.rate, amount, text))
    return lines


def _upfront(
    terms: PlanTerms, principal: int, currency: str, performance: ProviderPerformance | None
) -> tuple[Decimal, list[CommissionLine], int]:
    money = format_money
    with localcontext(_CONTEXT):
        lines = _band_lines(terms, principal, currency)
        points, reasons = performance_points(performance, terms.performance_rules)
        if points:
            amount = _half_up(principal * points)
            sign = "+" if points > 0 else ""
            text = (
                f"{money(amount, currency)}: {sign}{format_points(points)} on {money(principal, currency)} "
                f"({'; '.join(reasons)})"
            )
            lines.append(CommissionLine("performance", principal, points, amount, text))
    subtotal = sum(line.amount for line in lines)
    capped = max(subtotal, terms.minimum, 0)
    if terms.maximum is not None:
        capped = min(capped, terms.maximum)
    if capped != subtotal:
        which = "minimum" if capped > subtotal else "maximum"
        verb = "raises" if which == "minimum" else "limits"
        text = (
            f"{money(capped - subtotal, currency)}: the plan's {which} {verb} the commission "
            f"to {money(capped, currency)}"
        )
        lines.append(CommissionLine(which, principal, Decimal(0), capped - subtotal, text))
    return points, lines, capped


def disbursement_commission(
    terms: PlanTerms, principal: int, currency: str, *, performance: ProviderPerformance | None = None
) -> int:
    """The commission earned when ``principal`` is disbursed, in minor units (see the module docstring)."""
    _check_loan(terms, principal, currency)
    return _upfront(terms, principal, currency, performance)[2]


def repayment_commission(
    terms: PlanTerms, interest_paid: int, currency: str, *, already_earned: int = 0
) -> int:
    """The plan's share of the interest part of one repayment, half-up, stopping at the plan's maximum
    given ``already_earned`` on this loan (the disbursement commission plus earlier shares)."""
    _check_loan(terms, interest_paid, currency)
    _minor("already_earned", already_earned)
    with localcontext(_CONTEXT):
        share = _half_up(interest_paid * terms.interest_share)
    if terms.maximum is not None:
        share = max(0, min(share, terms.maximum - already_earned))
    return share


def preview_commission(
    terms: PlanTerms,
    principal: int,
    currency: str,
    *,
    performance: ProviderPerformance | None = None,
    expected_interest: int = 0,
) -> CommissionPreview:
    """The breakdown of what a loan would earn: each band, any performance adjustment and cap, and the
    interest share on ``expected_interest`` (e.g. a schedule's total interest) within the maximum."""
    _check_loan(terms, principal, currency)
    _minor("expected_interest", expected_interest)
    points, lines, upfront = _upfront(terms, principal, currency, performance)
    share = repayment_commission(terms, expected_interest, currency, already_earned=upfront)
    if terms.interest_share and expected_interest:
        text = (
            f"{format_money(share, currency)}: {format_percent(terms.interest_share)} of "
            f"{format_money(expected_interest, currency)} interest, as it is repaid"
        )
        if terms.maximum is not None and upfront + share == terms.maximum:
            text += f", within the plan's maximum of {format_money(terms.maximum, currency)}"
        lines.append(CommissionLine("interest share", expected_interest, terms.interest_share, share, text))
    return CommissionPreview(
        plan=terms.name,
        currency=currency,
        principal=principal,
        points=points,
        lines=tuple(lines),
        upfront=upfront,
        expected_interest=expected_interest,
        interest_share=share,
        total=upfront + share,
    )
