"""A provider's commission plan: what the platform earns on a loan it brokered to that provider.

This module only defines and validates the plan; the arithmetic lives in ``tools.loans.domain.commissions``.
Amounts are integer minor units of their ISO 4217 currency and rates are Decimal fractions
(``0.085`` is 8.5%), as everywhere else. The plan is stored as this model's JSON
(``model_dump(mode="json")``: rates as decimal strings, amounts as integers) and read back with
``CommissionPlan.model_validate``.

Meaning of each part, for a loan of ``principal_minor`` in ``currency``:

* ``principal_rate``: the share of the principal the platform earns (default 8.5%).
* ``tiers``: optional, per currency. The tier of that currency with the highest ``from_principal_minor``
  not above the principal replaces ``principal_rate`` for the **whole** principal (not marginally).
  A principal below every tier of its currency, or a currency without tiers, uses ``principal_rate``.
* ``caps``: optional, at most one per currency: everything the platform earns on one loan (the
  principal commission plus every interest share) never exceeds ``max_commission_minor`` of it.
* ``interest_share``: the share of the interest actually collected that the platform earns on top
  (default 0, none).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.platform.domain.money import MoneyError, currency_exponent

__all__ = ["DEFAULT_PRINCIPAL_RATE", "CommissionCap", "CommissionPlan", "CommissionTier", "Rate"]

DEFAULT_PRINCIPAL_RATE = Decimal("0.085")
MAX_TIERS = 20


def _check_rate(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0 or value > 1:
        raise ValueError("must be a fraction between 0 and 1 (0.085 is 8.5%)")
    if value != value.quantize(Decimal("0.000001")):
        raise ValueError("must have at most 6 decimals")
    return value


Rate = Annotated[Decimal, Field(description="A fraction: 0.085 is 8.5%. At most 6 decimals.")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("currency", check_fields=False)
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            currency_exponent(value)
        except MoneyError as exc:
            raise ValueError(str(exc)) from None
        return value


class CommissionTier(_Part):
    currency: str
    from_principal_minor: Annotated[int, Field(ge=0)]
    principal_rate: Rate

    @field_validator("principal_rate")
    @classmethod
    def _rate(cls, value: Decimal) -> Decimal:
        return _check_rate(value)


class CommissionCap(_Part):
    currency: str
    max_commission_minor: Annotated[int, Field(gt=0)]


class CommissionPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    principal_rate: Rate = DEFAULT_PRINCIPAL_RATE
    tiers: tuple[CommissionTier, ...] = ()
    caps: tuple[CommissionCap, ...] = ()
    interest_share: Rate = Decimal("0")

    @field_validator("principal_rate", "interest_share")
    @classmethod
    def _rates(cls, value: Decimal) -> Decimal:
        return _check_rate(value)

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: tuple[CommissionTier, ...]) -> tuple[CommissionTier, ...]:
        if len(tiers) > MAX_TIERS:
            raise ValueError(f"at most {MAX_TIERS} tiers")
        starts = [(t.currency, t.from_principal_minor) for t in tiers]
        if len(set(starts)) != len(starts):
            raise ValueError("two tiers of one currency start at the same principal")
        # A canonical order, so equal plans store equal JSON.
        return tuple(sorted(tiers, key=lambda t: (t.currency, t.from_principal_minor)))

    @field_validator("caps")
    @classmethod
    def _caps(cls, caps: tuple[CommissionCap, ...]) -> tuple[CommissionCap, ...]:
        currencies = [c.currency for c in caps]
        if len(set(currencies)) != len(currencies):
            raise ValueError("at most one cap per currency")
        return tuple(sorted(caps, key=lambda c: c.currency))

    def tiers_for(self, currency: str) -> tuple[CommissionTier, ...]:
        """The tiers of one currency, lowest ``from_principal_minor`` first."""
        return tuple(t for t in self.tiers if t.currency == currency)

    def cap_for(self, currency: str) -> int | None:
        return next((c.max_commission_minor for c in self.caps if c.currency == currency), None)
