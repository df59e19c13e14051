"""Listing loans a page at a time. Who sees which loans is ``tools.loans.loans.can_view_loan``, said here as
filters the query applies, so a page never holds a loan its caller could not open with get_loan."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from tools.loans.domain.loans import LoanStatus
from tools.loans.domain.write_offs import is_written_off, owes_nothing
from tools.loans.loans import provider_of
from tools.loans.models.loans import LoanPage, LoanSummary, NextDue
from tools.loans.ports import LoanDeps, LoanListRow, LoanQuery
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.errors import PermissionDenied
from tools.platform.models import Money
from tools.platform.principal import Principal, Role

__all__ = ["list_loans"]


def _scope(principal: Principal, provider_id: UUID | None) -> tuple[UUID | None, str | None, str | None]:
    """(provider_id, borrower_id, created_by) the caller's listing is limited to."""
    if principal.is_staff:
        return provider_id, None, None
    if principal.role is Role.PROVIDER:
        own = provider_of(principal)
        if own is None:
            raise PermissionDenied(
                "your token carries no provider id (a UUID) in provider_id; ask the operator for a "
                "provider token"
            )
        if provider_id is not None and provider_id != own:
            raise PermissionDenied("providers list only their own loans; leave provider out")
        return own, None, None
    if principal.role is Role.BORROWER:
        return provider_id, principal.subject, None
    if principal.role is Role.AGENT:
        return provider_id, None, principal.subject
    raise PermissionDenied(f"{principal.role} cannot list loans")


def _summary(row: LoanListRow) -> LoanSummary:
    cur = row.currency
    # What a written-off loan's installments still hold is what the write-off removed, and a cancelled
    # loan was never paid out: neither is a debt (tools.loans.domain.write_offs).
    ended = owes_nothing(row.status)
    next_due = None
    if row.next_due_number is not None and row.next_due_date is not None and row.next_due_minor is not None:
        next_due = NextDue(
            number=row.next_due_number,
            due_date=row.next_due_date,
            amount=Money.from_minor(row.next_due_minor, cur),
        )
    return LoanSummary(
        id=row.id,
        application_id=row.application_id,
        application_reference=row.application_reference,
        provider_id=row.provider_id,
        provider_name=row.provider_name,
        status=LoanStatus(row.status),
        currency=cur,
        principal=Money.from_minor(row.principal_minor, cur),
        outstanding=Money.from_minor(0 if ended else row.outstanding_minor, cur),
        written_off=Money.from_minor(row.outstanding_minor if is_written_off(row.status) else 0, cur),
        next_due=None if ended else next_due,
        days_past_due=0 if ended else row.days_past_due,
        created_at=row.created_at,
        disbursed_at=row.disbursed_at,
    )


async def list_loans(
    deps: LoanDeps,
    principal: Principal,
    *,
    statuses: Sequence[LoanStatus] | None = None,
    provider_id: UUID | None = None,
    currency: str | None = None,
    min_days_past_due: int | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> LoanPage:
    """Staff list every loan, providers the loans they made, borrowers their own, agents those of
    applications they filed; newest first."""
    provider, borrower, created_by = _scope(principal, provider_id)
    scope = keyset(
        "loans", statuses=statuses, provider=provider_id, currency=currency, min_dpd=min_days_past_due
    )
    rows = await deps.reader.listing(
        LoanQuery(
            statuses=[s.value for s in statuses] if statuses else None,
            provider_id=provider,
            borrower_id=borrower,
            created_by=created_by,
            currency=currency,
            min_days_past_due=min_days_past_due,
            after=decode_cursor(scope, cursor) if cursor else None,
            limit=limit + 1,  # one extra row tells whether another page exists
        )
    )
    page = rows[:limit]
    next_cursor = encode_cursor(scope, page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return LoanPage(items=[_summary(r) for r in page], next_cursor=next_cursor)
