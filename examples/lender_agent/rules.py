"""The lender's pricing rules, read from a JSON or TOML file, and the pure decision for one invitation.

A rule file says, per risk grade, the annual rate, the origination fee (a fraction of the amount) and the
largest amount this lender will bid; and for the whole book, the currency it lends in, how many bids a
UTC day it will place (its appetite) and the capital it has left to commit.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["Bid", "Book", "Decline", "GradeRule", "Rules", "decide", "load_rules"]


@dataclass(frozen=True)
class GradeRule:
    annual_rate: Decimal
    fee_rate: Decimal  # origination fee as a fraction of the amount (0.01 = 1%)
    max_amount: Decimal


@dataclass(frozen=True)
class Rules:
    currency: str
    daily_appetite: int  # bids per UTC day
    capital: Decimal  # the most this agent commits in bids, in total
    grades: dict[str, GradeRule]
    valid_days: int = 7  # how long each offer stands
    conditions: str | None = None


@dataclass(frozen=True)
class Bid:
    """The terms to offer, as providers_place_bid's ``bid`` argument takes them."""

    currency: str
    amount: Decimal
    annual_rate: Decimal
    term_months: int
    origination_fee: Decimal
    valid_until: datetime
    conditions: str | None = None

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "currency": self.currency,
            "amount": str(self.amount),
            "annual_rate": str(self.annual_rate),
            "term_months": self.term_months,
            "origination_fee": str(self.origination_fee),
            "valid_until": self.valid_until.isoformat(),
        }
        if self.conditions:
            args["conditions"] = self.conditions
        return args

    def same_price(self, other: Bid) -> bool:
        return (self.amount, self.annual_rate, self.origination_fee, self.term_months) == (
            other.amount,
            other.annual_rate,
            other.origination_fee,
            other.term_months,
        )


@dataclass(frozen=True)
class Decline:
    reason: str  # sent to the platform with providers_decline_invitation: no personal data


@dataclass
class Book:
    """What the agent has committed so far (in memory: a production lender keeps this in its database)."""

    committed: Decimal = Decimal(0)
    bids_by_day: dict[date, int] = field(default_factory=dict)

    def bids_today(self, now: datetime) -> int:
        return self.bids_by_day.get(now.date(), 0)

    def record(self, amount: Decimal, now: datetime, previous: Decimal | None = None) -> None:
        """A placed bid (``previous`` None) counts against today's appetite; a revision only moves capital."""
        self.committed += amount - (previous or Decimal(0))
        if previous is None:
            self.bids_by_day[now.date()] = self.bids_today(now) + 1


def _decimal(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{what} must be a decimal number, not {value!r}") from None


def load_rules(path: Path) -> Rules:
    """The rules in ``path`` (``.toml``, else JSON); ValueError names a missing or bad field."""
    text = path.read_text()
    raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    try:
        grades = {
            str(grade).upper(): GradeRule(
                annual_rate=_decimal(rule["annual_rate"], f"grades.{grade}.annual_rate"),
                fee_rate=_decimal(rule.get("fee_rate", 0), f"grades.{grade}.fee_rate"),
                max_amount=_decimal(rule["max_amount"], f"grades.{grade}.max_amount"),
            )
            for grade, rule in raw.get("grades", {}).items()
        }
        return Rules(
            currency=str(raw["currency"]).upper(),
            daily_appetite=int(raw["daily_appetite"]),
            capital=_decimal(raw["capital"], "capital"),
            grades=grades,
            valid_days=int(raw.get("valid_days", 7)),
            conditions=raw.get("conditions"),
        )
    except KeyError as exc:
        raise ValueError(f"{path}: the rule file has no {exc.args[0]!r}") from None


def decide(
    rules: Rules, book: Book, invitation: dict[str, Any], now: datetime | None = None
) -> Bid | Decline:
    """Bid or decline on a ``provider.invited`` event's data, by the first rule that says no."""
    now = now or datetime.now(UTC)
    currency, grade = str(invitation["currency"]), str(invitation.get("grade") or "?")
    amount = Decimal(str(invitation["amount"]))
    rule = rules.grades.get(grade)
    if currency != rules.currency:
        return Decline(f"we lend only in {rules.currency}, not {currency}")
    if rule is None:
        return Decline(f"grade {grade} is outside our lending appetite")
    if amount > rule.max_amount:
        return Decline(f"{currency} {amount} is above our maximum of {rule.max_amount} for grade {grade}")
    if book.bids_today(now) >= rules.daily_appetite:
        return Decline(f"our appetite of {rules.daily_appetite} bids a day is used up")
    left = rules.capital - book.committed
    if amount > left:
        return Decline(f"{currency} {amount} is more than the capital we have left ({left})")
    # The fee in the amount's own digits ("250000.00" -> cents), as the currency's minor unit allows.
    exponent = amount.as_tuple().exponent
    fee = (amount * rule.fee_rate).quantize(Decimal(1).scaleb(exponent if isinstance(exponent, int) else -2))
    return Bid(
        currency=currency,
        amount=amount,
        annual_rate=rule.annual_rate,
        term_months=int(invitation["term_months"]),
        origination_fee=fee,
        valid_until=now + timedelta(days=rules.valid_days),
        conditions=rules.conditions,
    )
