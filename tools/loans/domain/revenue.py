"""The platform's income read from its ledger lines: commission at disbursement, on interest, its
reversals, and its own fees. One rule for every report of revenue (``get_platform_revenue`` and the
monitoring dashboard's months), so both add the same postings the same way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["IncomeLine", "PlatformIncome", "platform_income"]


class IncomeLine(Protocol):
    """Postings of one journal kind to one of the platform's income accounts (credit-normal, so the
    amount is already the income: the negated sum)."""

    @property
    def account_purpose(self) -> str: ...  # commission_income or fee_income

    @property
    def journal_kind(self) -> str: ...

    @property
    def amount_minor(self) -> int: ...

    @property
    def journals(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PlatformIncome:
    """Minor units of one currency."""

    at_disbursement: int
    on_interest: int
    reversals: int
    commission: int
    fees: int
    journals: int

    @property
    def total(self) -> int:
        return self.commission + self.fees


def platform_income(lines: Iterable[IncomeLine]) -> PlatformIncome:
    """The income of ``lines``: commission is every posting to commission_income (a reversal included);
    the split names the journals that posted it (``commission`` at disbursement, ``repayment`` the
    share of the interest, ``reversal``)."""
    rows = list(lines)

    def income(purpose: str, *kinds: str) -> int:
        return sum(
            line.amount_minor
            for line in rows
            if line.account_purpose == purpose and (not kinds or line.journal_kind in kinds)
        )

    return PlatformIncome(
        at_disbursement=income("commission_income", "commission"),
        on_interest=income("commission_income", "repayment"),
        reversals=income("commission_income", "reversal"),
        commission=income("commission_income"),
        fees=income("fee_income"),
        journals=sum(line.journals for line in rows),
    )
