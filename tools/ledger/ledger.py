"""Use cases of the double-entry ledger.

Use cases that move money post inside their own transaction::

    async with deps.uow() as uow:
        ...  # the state change, e.g. accepting an offer
        reserved = account("provider", "capital_reserved", offer.currency, offer.provider_id)
        available = account("provider", "capital_available", offer.currency, offer.provider_id)
        draft = JournalDraft(
            JournalKind.RESERVATION, str(offer.id), "offer accepted",
            (debit(reserved, offer.amount_minor), credit(available, offer.amount_minor)),
        )
        await post_journal(uow, call, draft)

The change, the journal, its audit row and its outbox event then commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from tools.ledger.domain.chart import Account, AccountError, OwnerType, parse_account_code
from tools.ledger.domain.ledger import (
    NORMAL_SIDE,
    AccountBalance,
    Journal,
    JournalDraft,
    LedgerError,
    check_balanced,
    side_of,
)
from tools.ledger.models import (
    AccountBalanceView,
    AccountStatement,
    BalanceDifferenceView,
    JournalLineView,
    JournalView,
    PostingView,
    ReconciliationReport,
)
from tools.ledger.ports import LedgerDeps, LedgerUnitOfWork
from tools.platform.cursor import Keyset, decode_timed, encode_position, keyset
from tools.platform.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from tools.platform.models import Money
from tools.platform.ports import Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

__all__ = [
    "JournalAlreadyPosted",
    "get_account_balance",
    "get_journal",
    "journal_not_found",
    "list_account_postings",
    "post_journal",
    "posting_cursor",
    "posting_position",
    "reconcile_ledger",
]


class JournalAlreadyPosted(Conflict):
    """The movement (kind, source_id) was posted before; ``journal_id`` is the journal that has it."""

    def __init__(self, kind: str, source_id: str, journal_id: UUID | None) -> None:
        super().__init__(
            f"the {kind} movement '{source_id}' is already posted as journal {journal_id}; a movement posts "
            "once. Read that journal, or reverse it first if it was wrong"
        )
        self.journal_id = journal_id


def journal_event_fields(draft: JournalDraft) -> dict[str, Any]:
    """The journal's event payload but its ``journal_id``, which the posting statement assigns."""
    # The memo stays out: it is free text and events leave the system of record.
    return {
        "kind": draft.kind.value,
        "source_id": draft.source_id,
        "reverses_journal_id": str(draft.reverses_journal_id) if draft.reverses_journal_id else None,
        "postings": [
            {"account": p.account.code, "currency": p.currency, "amount_minor": p.amount_minor}
            for p in draft.postings
        ],
    }


def journal_event(journal_id: UUID, draft: JournalDraft) -> OutboxEvent:
    return OutboxEvent(
        aggregate_type="journal",
        aggregate_id=str(journal_id),
        event_type="ledger.journal_posted",
        payload={"journal_id": str(journal_id), **journal_event_fields(draft)},
    )


async def post_journal(uow: LedgerUnitOfWork, call: Invocation, draft: JournalDraft) -> UUID:
    """Post ``draft`` in the caller's transaction with its audit row and outbox event (all in the
    posting's one statement); returns its id.

    Raises InvalidArgument when the draft does not balance (before the database would refuse it at
    COMMIT) and JournalAlreadyPosted when its movement was posted before; after that the transaction
    is still usable, so a caller may treat it as a replay.
    """
    try:
        check_balanced(draft)
    except LedgerError as exc:
        raise InvalidArgument(str(exc)) from None
    return await uow.ledger.post(draft, call, journal_event_fields(draft))


def _visible(principal: Principal, account: Account) -> bool:
    if principal.is_staff:
        return True
    return (
        principal.role is Role.PROVIDER
        and principal.provider_id is not None
        and account.owner_type is OwnerType.PROVIDER
        and account.owner_id == principal.provider_id
    )


def _not_found(handle: str) -> NotFound:
    return NotFound(
        f"no account '{handle}' that you can see; an account exists from its first posting. Check the "
        "code (owner:id:purpose:CUR, e.g. provider:p-7:capital_available:NGN) or the account id"
    )


def _account_key(handle: str) -> UUID | Account:
    try:
        return UUID(handle)
    except ValueError:
        pass
    try:
        return parse_account_code(handle)
    except AccountError as exc:
        raise InvalidArgument(str(exc)) from None


async def _balance(
    deps: LedgerDeps, principal: Principal, handle: str, as_of: datetime | None
) -> AccountBalance:
    key = _account_key(handle)
    if isinstance(key, Account) and not _visible(principal, key):  # decided from the code: no lookup
        raise PermissionDenied(
            "providers read only their own accounts: provider:<your provider id>:<purpose>:<currency>"
        )
    found = await deps.reader.balance(key.code if isinstance(key, Account) else key, as_of)
    if found is None or not _visible(principal, found.account):
        raise _not_found(handle)
    return found


def balance_view(found: AccountBalance) -> AccountBalanceView:
    account = found.account
    return AccountBalanceView(
        account_id=found.account_id,
        code=account.code,
        kind=account.kind,
        owner_type=account.owner_type,
        owner_id=account.owner_id,
        normal_balance=NORMAL_SIDE[account.kind],
        balance=Money.from_minor(found.normal_balance_minor, account.currency),
        balance_minor=found.normal_balance_minor,
        net_debit_minor=found.net_debit_minor,
        as_of=found.as_of,
        opened_at=found.opened_at,
    )


async def get_account_balance(
    deps: LedgerDeps, principal: Principal, account: str, as_of: datetime | None = None
) -> AccountBalanceView:
    return balance_view(await _balance(deps, principal, account, as_of))


def posting_cursor(scope: Keyset, position: tuple[datetime, int]) -> str:
    """A page's next_cursor in ``scope``: where the page's last posting is, by (time, posting id)."""
    return encode_position(scope, position[0].isoformat(), position[1])


def posting_position(scope: Keyset, cursor: str) -> tuple[datetime, int]:
    """The (time, posting id) a ``posting_cursor`` of ``scope`` names; ``invalid_argument`` for anything
    else."""
    at, posting_id = decode_timed(scope, cursor, int)
    return at, int(posting_id)


async def list_account_postings(
    deps: LedgerDeps, principal: Principal, account: str, limit: int, cursor: str | None = None
) -> AccountStatement:
    found = await _balance(deps, principal, account, None)
    # The account itself, however it was named (its code or its id), shapes the pages.
    scope = keyset("account_postings", account=found.account_id)
    after = posting_position(scope, cursor) if cursor else None
    currency = found.account.currency
    rows = await deps.reader.statement(found.account_id, after, limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return AccountStatement(
        account=balance_view(found),
        items=[
            PostingView(
                posting_id=r.posting_id,
                journal_id=r.journal_id,
                journal_kind=r.journal_kind,
                source_id=r.source_id,
                memo=r.memo,
                side=side_of(r.amount_minor),
                amount=Money.from_minor(abs(r.amount_minor), currency),
                amount_minor=r.amount_minor,
                created_at=r.created_at,
            )
            for r in page
        ],
        next_cursor=posting_cursor(scope, (page[-1].created_at, page[-1].posting_id)) if more else None,
    )


def journal_view(journal: Journal) -> JournalView:
    return JournalView(
        id=journal.id,
        kind=journal.kind,
        source_id=journal.source_id,
        memo=journal.memo,
        created_by=journal.created_by,
        created_at=journal.created_at,
        reverses_journal_id=journal.reverses_journal_id,
        reversed_by_journal_id=journal.reversed_by,
        lines=[
            JournalLineView(
                account_code=p.account.code,
                account_kind=p.account.kind,
                side=p.side,
                amount=Money.from_minor(abs(p.amount_minor), p.currency),
                amount_minor=p.amount_minor,
            )
            for p in journal.postings
        ],
    )


def journal_not_found(journal_id: UUID) -> NotFound:
    return NotFound(f"no journal {journal_id}; journal ids are in list_account_postings")


async def get_journal(deps: LedgerDeps, journal_id: UUID) -> JournalView:
    journal = await deps.reader.journal(journal_id)
    if journal is None:
        raise journal_not_found(journal_id)
    return journal_view(journal)


async def reconcile_ledger(deps: LedgerDeps, full: bool = False) -> ReconciliationReport:
    """Check every cached balance against its postings and report each one that differs: against the
    last run's verified sums plus what was posted since, or (``full``) against every posting."""
    found = await deps.reader.reconcile(full)
    return ReconciliationReport(
        checked_at=found.checked_at,
        mode="full" if found.mode == "full" else "incremental",
        since=found.since,
        consistent=found.consistent,
        accounts_checked=found.accounts_checked,
        journals_checked=found.journals_checked,
        postings_checked=found.postings_checked,
        differences_total=found.differences_total,
        differences=[
            BalanceDifferenceView(
                account_id=d.account_id,
                code=d.code,
                currency=d.currency,
                cached_minor=d.cached_minor,
                computed_minor=d.computed_minor,
                difference_minor=d.difference_minor,
                difference=Money.from_minor(d.difference_minor, d.currency),
            )
            for d in found.differences
        ],
        unbalanced_journals=list(found.unbalanced_journals),
    )
