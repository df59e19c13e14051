"""The chart of accounts: which accounts exist, what kind each is, and how their codes read.

The ledger keeps the platform's books and, beside them, the sub-ledgers it administers for providers,
loans and borrowers. A code reads ``<owner_type>[:<owner_id>]:<purpose>[:<qualifier>]:<currency>``:

    provider:p-7:capital_available:NGN        provider p-7's money free to lend
    loan:4f1c...:principal_receivable:NGN     principal the borrower still owes on a loan
    platform:cash_clearing:onasis:NGN         money in transit at the payment vendor "onasis"

Every account holds one currency, the last part of its code. An account exists from its first
posting; only purposes in ``CHART`` can be named, so a typo is an error rather than a new account.
The id of an account is the UUIDv5 of its code: any writer knows it before the account exists.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from tools.platform.domain.money import MoneyError, currency_exponent

__all__ = [
    "CHART",
    "Account",
    "AccountError",
    "AccountKind",
    "AccountType",
    "OwnerType",
    "account",
    "account_id",
    "parse_account_code",
]

# Fixed forever: changing it would give every account a new id.
ACCOUNT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "caas:ledger:accounts")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
_SHOWN = re.compile(r"[A-Za-z0-9_.@+:-]{1,80}\Z")


class AccountError(ValueError):
    """The account named is not one the chart allows."""


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


class OwnerType(StrEnum):
    PLATFORM = "platform"
    PROVIDER = "provider"
    LOAN = "loan"
    BORROWER = "borrower"


@dataclass(frozen=True, slots=True)
class AccountType:
    kind: AccountKind
    description: str
    qualified: bool = False  # the code carries a qualifier, e.g. the payment vendor of a clearing account


CHART: dict[tuple[OwnerType, str], AccountType] = {
    (OwnerType.PROVIDER, "capital_available"): AccountType(AccountKind.ASSET, "money free to lend"),
    (OwnerType.PROVIDER, "capital_reserved"): AccountType(
        AccountKind.ASSET, "money held for accepted offers until disbursed or released"
    ),
    (OwnerType.PROVIDER, "capital_contributed"): AccountType(
        AccountKind.EQUITY, "capital the provider put in, less what it withdrew"
    ),
    (OwnerType.PROVIDER, "interest_income"): AccountType(AccountKind.INCOME, "interest earned on loans"),
    (OwnerType.PROVIDER, "fee_income"): AccountType(AccountKind.INCOME, "loan fees that go to the provider"),
    (OwnerType.PROVIDER, "commission_expense"): AccountType(
        AccountKind.EXPENSE, "commission owed to the platform"
    ),
    (OwnerType.PROVIDER, "credit_losses"): AccountType(AccountKind.EXPENSE, "amounts written off"),
    (OwnerType.LOAN, "principal_receivable"): AccountType(AccountKind.ASSET, "principal still owed"),
    (OwnerType.LOAN, "interest_receivable"): AccountType(AccountKind.ASSET, "interest accrued, not yet paid"),
    (OwnerType.LOAN, "fees_receivable"): AccountType(AccountKind.ASSET, "fees charged, not yet paid"),
    (OwnerType.BORROWER, "payable"): AccountType(
        AccountKind.LIABILITY, "money owed to the borrower (overpayments, refunds)"
    ),
    (OwnerType.PLATFORM, "commission_income"): AccountType(AccountKind.INCOME, "commission earned"),
    (OwnerType.PLATFORM, "fee_income"): AccountType(AccountKind.INCOME, "fees earned by the platform"),
    (OwnerType.PLATFORM, "cash_clearing"): AccountType(
        AccountKind.ASSET, "money in transit at a payment vendor (qualifier: the vendor)", qualified=True
    ),
    (OwnerType.PLATFORM, "suspense"): AccountType(
        AccountKind.LIABILITY, "money received that is not yet matched to a loan"
    ),
    (OwnerType.PLATFORM, "payout_recovery"): AccountType(
        AccountKind.ASSET, "money paid out that no loan took (a duplicate payout), owed back by its recipient"
    ),
    (OwnerType.PLATFORM, "payout_losses"): AccountType(
        AccountKind.EXPENSE, "payouts booked for recovery that were written off as lost"
    ),
}


def account_id(code: str) -> uuid.UUID:
    return uuid.uuid5(ACCOUNT_NAMESPACE, code)


@dataclass(frozen=True, slots=True)
class Account:
    """One account of the chart. Build it with ``account()`` or ``parse_account_code()``."""

    code: str
    kind: AccountKind
    currency: str
    owner_type: OwnerType
    owner_id: str | None

    @property
    def id(self) -> uuid.UUID:
        return account_id(self.code)


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value):
        raise AccountError(
            f"{what} {_shown(value)} cannot be part of an account code: use 1-128 letters, digits and "
            ". _ @ + -, starting with a letter or digit"
        )
    return value


def account(
    owner_type: OwnerType | str,
    purpose: str,
    currency: str,
    owner_id: str | None = None,
    qualifier: str | None = None,
) -> Account:
    """The chart's account for this owner, purpose and currency; AccountError if there is none."""
    try:
        owner = OwnerType(owner_type)
    except ValueError:
        raise AccountError(
            f"{_shown(str(owner_type))} is not an account owner; use one of {', '.join(OwnerType)}"
        ) from None
    spec = CHART.get((owner, purpose))
    if spec is None:
        known = sorted(p for o, p in CHART if o is owner)
        raise AccountError(
            f"{owner} accounts have no purpose {_shown(purpose)}; use one of {', '.join(known)}"
        )
    try:
        currency_exponent(currency)
    except MoneyError as exc:
        raise AccountError(str(exc)) from None
    if (owner is OwnerType.PLATFORM) != (owner_id is None):
        raise AccountError(
            "platform accounts have no owner id" if owner_id else f"a {owner} account needs its {owner} id"
        )
    if spec.qualified != (qualifier is not None):
        raise AccountError(
            f"{owner}:{purpose} needs a qualifier (for example the payment vendor)"
            if spec.qualified
            else f"{owner}:{purpose} takes no qualifier"
        )
    parts = [owner.value]
    if owner_id is not None:
        parts.append(_segment(owner_id, f"{owner} id"))
    parts.append(purpose)
    if qualifier is not None:
        parts.append(_segment(qualifier, "qualifier"))
    parts.append(currency)
    return Account(":".join(parts), spec.kind, currency, owner, owner_id)


def parse_account_code(code: str) -> Account:
    """The account a code names, checked against the chart (it need not have any postings yet)."""
    parts = code.strip().split(":")
    example = "for example provider:p-7:capital_available:NGN or platform:fee_income:NGN"
    if len(parts) < 3:
        raise AccountError(f"{_shown(code)} is not an account code; {example}")
    owner, rest, currency = parts[0], parts[1:-1], parts[-1]
    owner_id = None
    if owner != OwnerType.PLATFORM:
        if len(rest) < 2:
            raise AccountError(f"{_shown(code)} is not an account code; {example}")
        owner_id, rest = _canonical_id(rest[0]), rest[1:]
    if len(rest) not in (1, 2):
        raise AccountError(f"{_shown(code)} is not an account code; {example}")
    qualifier = rest[1] if len(rest) == 2 else None
    return account(owner, rest[0], currency, owner_id, qualifier)


def _canonical_id(owner_id: str) -> str:
    # A provider's or borrower's UUID names one account however it is spelled (upper case, braces):
    # the chart's codes hold the lower-case form the platform issues.
    try:
        return str(uuid.UUID(owner_id))
    except ValueError:
        return owner_id


def _shown(text: str) -> str:
    # A refusal names what was sent only when it is a short, plain code; anything else (400 characters,
    # a bidi override) is not echoed back.
    return f"'{text}'" if _SHOWN.match(text) else "the value sent"
