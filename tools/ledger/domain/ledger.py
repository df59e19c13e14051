"""Double-entry journals: postings, drafts, the balance rule, the sign convention and reversals.

Sign convention, shared with the database: ``amount_minor > 0`` is a debit, ``< 0`` a credit, in
integer minor units of the account's currency. An account's balance is debits minus credits. Asset and
expense accounts are debit-normal (a positive balance is normal); liability, equity and income accounts
are credit-normal, so their balance *in the normal direction* is the negation (``in_normal_direction``).

A journal balances when its postings sum to zero in each currency; it has at least two postings on at
least two accounts. Posted journals never change: a correction is ``reversal_of(journal)``.

How the money movements post (Dr debit, Cr credit; accounts from ``tools.ledger.domain.chart``):

    capital_deposit      Dr provider capital_available      Cr provider capital_contributed
    capital_withdrawal   Dr provider capital_contributed    Cr provider capital_available
    reservation          Dr provider capital_reserved       Cr provider capital_available
    reservation_release  Dr provider capital_available      Cr provider capital_reserved
    disbursement         Dr loan principal_receivable       Cr provider capital_reserved
    interest_accrual     Dr loan interest_receivable        Cr provider interest_income
    fee                  Dr loan fees_receivable            Cr platform (or provider) fee_income
    repayment            Dr platform cash_clearing:<vendor> Cr loan fees, then interest, then principal
    settlement           Dr provider capital_available      Cr platform cash_clearing:<vendor>
    commission           Dr provider commission_expense     Cr platform commission_income
    write_off            Dr provider credit_losses          Cr loan principal/interest receivable
    reversal             every posting of the reversed journal, negated
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from tools.ledger.domain.chart import Account, AccountKind

__all__ = [
    "MAX_POSTINGS",
    "MAX_POSTING_MINOR",
    "NORMAL_SIDE",
    "AccountBalance",
    "BalanceDifference",
    "Journal",
    "JournalDraft",
    "JournalKind",
    "LedgerError",
    "Posting",
    "Reconciliation",
    "Side",
    "StatementLine",
    "check_balanced",
    "credit",
    "debit",
    "in_normal_direction",
    "reversal_of",
    "side_of",
    "sums_by_currency",
]

MAX_POSTING_MINOR = 10**18  # the database refuses larger postings too
MAX_POSTINGS = 100


class LedgerError(ValueError):
    """A journal or posting that the ledger would refuse; the message says how to fix it."""


class JournalKind(StrEnum):
    CAPITAL_DEPOSIT = "capital_deposit"
    CAPITAL_WITHDRAWAL = "capital_withdrawal"
    RESERVATION = "reservation"
    RESERVATION_RELEASE = "reservation_release"
    DISBURSEMENT = "disbursement"
    INTEREST_ACCRUAL = "interest_accrual"
    REPAYMENT = "repayment"
    SETTLEMENT = "settlement"
    COMMISSION = "commission"
    FEE = "fee"
    WRITE_OFF = "write_off"
    REVERSAL = "reversal"
    # Money received that its loan refused: held for the payer until refunded (then reversed).
    SUSPENSE = "suspense"
    # Money a payout sent that no loan took (a duplicate, or a payout of a cancelled loan): owed back by
    # its recipient until recovered (then reversed).
    PAYOUT_RECOVERY = "payout_recovery"
    # Such a payout written off as lost, by an admin (reversed when it is recovered after all).
    PAYOUT_LOSS = "payout_loss"


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


NORMAL_SIDE: dict[AccountKind, Side] = {
    AccountKind.ASSET: Side.DEBIT,
    AccountKind.EXPENSE: Side.DEBIT,
    AccountKind.LIABILITY: Side.CREDIT,
    AccountKind.EQUITY: Side.CREDIT,
    AccountKind.INCOME: Side.CREDIT,
}


def side_of(amount_minor: int) -> Side:
    return Side.DEBIT if amount_minor > 0 else Side.CREDIT


def in_normal_direction(kind: AccountKind, net_debit_minor: int) -> int:
    """A balance (debits minus credits) as the account's owner reads it: positive when normal."""
    return net_debit_minor if NORMAL_SIDE[kind] is Side.DEBIT else -net_debit_minor


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of a journal: ``amount_minor`` debit-positive, credit-negative, never zero."""

    account: Account
    amount_minor: int

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise LedgerError("a posting's amount is an integer number of minor units")
        if self.amount_minor == 0:
            raise LedgerError(f"a posting to {self.account.code} must move money; leave zero amounts out")
        if abs(self.amount_minor) > MAX_POSTING_MINOR:
            raise LedgerError(f"a posting moves at most {MAX_POSTING_MINOR} minor units")

    @property
    def currency(self) -> str:
        return self.account.currency

    @property
    def side(self) -> Side:
        return side_of(self.amount_minor)


def debit(account: Account, amount_minor: int) -> Posting:
    if amount_minor <= 0:
        raise LedgerError(f"debit {account.code} with a positive amount, not {amount_minor}")
    return Posting(account, amount_minor)


def credit(account: Account, amount_minor: int) -> Posting:
    if amount_minor <= 0:
        raise LedgerError(f"credit {account.code} with a positive amount, not {amount_minor}")
    return Posting(account, -amount_minor)


@dataclass(frozen=True, slots=True)
class JournalDraft:
    """A journal not yet posted. ``source_id`` names the movement: (kind, source_id) posts once."""

    kind: JournalKind
    source_id: str
    memo: str
    postings: tuple[Posting, ...]
    reverses_journal_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Journal:
    """A posted journal, as stored."""

    id: UUID
    kind: JournalKind
    source_id: str
    memo: str
    created_by: str
    created_at: datetime
    reverses_journal_id: UUID | None
    postings: tuple[Posting, ...]
    reversed_by: UUID | None = None


def sums_by_currency(postings: Iterable[Posting]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for posting in postings:
        sums[posting.currency] += posting.amount_minor
    return dict(sums)


def check_balanced(draft: JournalDraft) -> None:
    """Raise LedgerError unless the database would accept ``draft``: it balances in each currency."""
    if not 1 <= len(draft.source_id) <= 200 or draft.source_id != draft.source_id.strip():
        raise LedgerError("source_id names the movement in 1-200 characters without surrounding spaces")
    if not 1 <= len(draft.memo.strip()) <= 1000:
        raise LedgerError("memo says what moved and why, in 1-1000 characters")
    if (draft.kind == JournalKind.REVERSAL) != (draft.reverses_journal_id is not None):
        raise LedgerError("a reversal, and only a reversal, names the journal it reverses")
    if draft.reverses_journal_id is not None and draft.source_id != str(draft.reverses_journal_id):
        raise LedgerError("a reversal's source_id is the id of the journal it reverses")
    if not 2 <= len(draft.postings) <= MAX_POSTINGS:
        raise LedgerError(
            f"a journal has 2 to {MAX_POSTINGS} postings (this one has {len(draft.postings)}): "
            "every debit needs a matching credit"
        )
    if len({p.account.code for p in draft.postings}) < 2:
        raise LedgerError("a journal moves money between at least two accounts")
    off = sorted((currency, total) for currency, total in sums_by_currency(draft.postings).items() if total)
    if off:
        detail = "; ".join(
            f"in {currency} {'debits exceed credits' if total > 0 else 'credits exceed debits'} "
            f"by {abs(total)} minor units"
            for currency, total in off
        )
        raise LedgerError(
            f"{draft.kind} journal {draft.source_id} does not balance: {detail}. Debits (+) and credits (-) "
            "must sum to zero in each currency"
        )


def reversal_of(journal: Journal, reason: str) -> JournalDraft:
    """The journal that undoes ``journal``: the same postings, each negated."""
    if not reason.strip():
        raise LedgerError("a reversal needs a reason")
    memo = f"reversal of {journal.kind} {journal.source_id}: {reason.strip()}"
    return JournalDraft(
        kind=JournalKind.REVERSAL,
        source_id=str(journal.id),
        memo=memo[:1000],
        postings=tuple(Posting(p.account, -p.amount_minor) for p in journal.postings),
        reverses_journal_id=journal.id,
    )


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account and its balance (debits minus credits), now or as of a time."""

    account_id: UUID
    account: Account
    net_debit_minor: int
    opened_at: datetime
    as_of: datetime | None = None

    @property
    def normal_balance_minor(self) -> int:
        return in_normal_direction(self.account.kind, self.net_debit_minor)


@dataclass(frozen=True, slots=True)
class StatementLine:
    posting_id: int
    journal_id: UUID
    journal_kind: JournalKind
    source_id: str
    memo: str
    amount_minor: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BalanceDifference:
    """A cached balance that disagrees with the sum of the account's postings."""

    account_id: UUID
    code: str
    currency: str
    cached_minor: int
    computed_minor: int

    @property
    def difference_minor(self) -> int:
        return self.cached_minor - self.computed_minor


@dataclass(frozen=True, slots=True)
class Reconciliation:
    checked_at: datetime
    accounts_checked: int
    journals_checked: int
    postings_checked: int
    differences: tuple[BalanceDifference, ...]  # the first ones, by account code
    differences_total: int
    unbalanced_journals: tuple[UUID, ...]
    # "full" recomputed every balance from every posting; "incremental" checked every cached balance
    # against the checkpoint of the run at ``since`` plus the journals posted after it.
    mode: str = "full"
    since: datetime | None = None

    @property
    def consistent(self) -> bool:
        return self.differences_total == 0 and not self.unbalanced_journals
