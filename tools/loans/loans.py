"""Use cases of a loan's life: confirm its disbursement, read it and its schedule, write it off. It is
originated from the accepted bid in ``tools.loans.origination``; repayments, settlement quotes and
aging are in ``tools.loans.servicing``.

``confirm_disbursement`` is a use case without a tool: the payments service calls it from the
gateway's webhook once the transfer to the borrower succeeded (tests call it directly until then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from uuid import UUID

from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.lifecycle import transition
from tools.ledger.ledger import post_journal
from tools.loans.domain.commissions import ProviderPerformance, disbursement_commission, terms_from_plan
from tools.loans.domain.journals import (
    commission_journal,
    disbursement_journal,
    origination_fee_journal,
    write_off_journal,
)
from tools.loans.domain.loans import (
    IllegalLoanTransition,
    InstallmentRecord,
    LoanChanges,
    LoanRecord,
    LoanStatus,
    check_loan_transition,
    loan_event_fields,
    open_outstanding,
)
from tools.loans.models.loans import LoanView, ScheduleView
from tools.loans.ports import LoanBook, LoanDeps, LoanUnitOfWork
from tools.loans.views import as_seen_by, loan_view, schedule_view
from tools.marketplace.domain.providers import ProviderRecord
from tools.platform.domain.money import MoneyError, from_minor, to_minor
from tools.platform.errors import Conflict, InvalidArgument, NotFound
from tools.platform.ports import Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

__all__ = [
    "can_view_loan",
    "confirm_disbursement",
    "confirm_disbursement_in",
    "get_loan",
    "get_repayment_schedule",
    "loan_event",
    "loan_not_found",
    "loan_view_of",
    "move_loan",
    "performance_of",
    "provider_of",
    "provider_performance",
    "visible_loan",
    "write_off_loan",
]


def loan_not_found(handle: str) -> NotFound:
    # Someone else's loan is reported exactly like a missing one, so ids cannot be probed.
    return NotFound(
        f"no loan '{handle}' that you can see; give the loan's id, or its application's id or "
        "CAAS-YYYY-NNNNNN reference"
    )


def can_view_loan(principal: Principal, loan: LoanRecord) -> bool:
    """Staff see every loan, borrowers their own, agents those of applications they filed, providers
    the loans they made."""
    if principal.is_staff:
        return True
    if principal.role is Role.BORROWER:
        return loan.borrower_id == principal.subject
    if principal.role is Role.AGENT:
        return loan.application_created_by == principal.subject
    if principal.role is Role.PROVIDER:
        return provider_of(principal) == loan.provider_id
    return False


def provider_of(principal: Principal) -> UUID | None:
    """The provider a principal acts for; None without one or when its token's provider_id is not a
    UUID. Parsed, not compared as text, so that get_loan and list_loans agree on any spelling of it."""
    try:
        return UUID(principal.provider_id) if principal.provider_id else None
    except ValueError:
        return None


def loan_event(loan: LoanRecord, event: str, reason: str, from_status: str | None = None) -> OutboxEvent:
    payload = loan_event_fields(loan, loan.status, reason, from_status)
    return OutboxEvent(
        aggregate_type="loan",
        aggregate_id=str(loan.id),
        event_type=f"loan.{event}",
        payload={**payload, "occurred_at": loan.updated_at.isoformat()},
    )


async def move_loan(
    uow: LoanUnitOfWork,
    call: Invocation,
    loan: LoanRecord,
    to: LoanStatus,
    reason: str,
    changes: LoanChanges | None = None,
    told: str | None = None,
) -> LoanRecord:
    """Move a locked loan to ``to`` (with ``changes``) or raise ``conflict`` naming the legal moves.
    ``told``: the reason its event carries (to the lender, the mirror), when ``reason`` must stay in."""
    try:
        check_loan_transition(LoanStatus(loan.status), to)
    except IllegalLoanTransition as exc:
        raise Conflict(f"loan {loan.id}: {exc}") from None
    # The move, its timeline entry, its audit row and its loan.<status> event: one statement.
    return await uow.loans.move(loan, to.value, call, reason, changes, told)


async def loan_view_of(deps: LoanDeps, loan: LoanRecord, *, replayed: bool = False) -> LoanView:
    installments, timeline = await deps.reader.details(loan.id)
    return loan_view(loan, installments, timeline, deps.clock.today(), replayed=replayed)


async def provider_performance(deps: LoanDeps, provider: ProviderRecord) -> ProviderPerformance | None:
    """The provider's record for the commission's performance adjustment: its approval rate on
    decided invitations and the share of its disbursed loans that defaulted; None without decisions
    or loans (no adjustment)."""
    if provider.decided_count == 0:
        return None
    return performance_of(provider, await deps.reader.book(provider.id))


def performance_of(provider: ProviderRecord, book: LoanBook) -> ProviderPerformance | None:
    """``provider_performance`` of a book already read."""
    if provider.decided_count == 0 or book.loans == 0:
        return None
    return ProviderPerformance(
        approval_rate=Decimal(provider.approved_count) / Decimal(provider.decided_count),
        default_rate=Decimal(book.defaulted) / Decimal(book.loans),
        loans=book.loans,
    )


def _disbursed_amount(loan: LoanRecord, amount: Decimal, currency: str) -> int:
    if currency != loan.currency:
        raise InvalidArgument(f"loan {loan.id} is in {loan.currency}; the disbursement was in {currency}")
    try:
        minor = to_minor(amount, currency)
    except MoneyError as exc:
        raise InvalidArgument(f"amount: {exc}") from None
    if minor != loan.amount_financed_minor:
        expected = from_minor(loan.amount_financed_minor, loan.currency)
        raise InvalidArgument(
            f"the disbursement must be the net disbursement {expected} {loan.currency} (the principal less "
            f"the origination fee); {amount} {currency} was reported"
        )
    return minor


async def confirm_disbursement(
    deps: LoanDeps, call: Invocation, loan_handle: str, gateway_reference: str, amount: Decimal, currency: str
) -> LoanView:
    """The gateway paid the loan out: the loan becomes active, the application disbursed, and the
    disbursement, the withheld origination fee and the platform's commission are posted, all in one
    transaction. Idempotent by gateway reference: the same reference again returns the loan."""
    async with deps.uow() as uow:
        loan, replayed = await confirm_disbursement_in(
            deps, uow, call, loan_handle, gateway_reference, amount, currency
        )
    return await loan_view_of(deps, loan, replayed=replayed)


async def confirm_disbursement_in(
    deps: LoanDeps,
    uow: LoanUnitOfWork,
    call: Invocation,
    loan_handle: str,
    gateway_reference: str,
    amount: Decimal,
    currency: str,
    *,
    locked: LoanRecord | None = None,
) -> tuple[LoanRecord, bool]:
    """``confirm_disbursement`` in the caller's transaction (the payment webhook's, beside its inbox
    row); returns the loan and whether this reference had confirmed it before. ``locked``: the loan,
    which the caller locked in this transaction already."""
    loan = locked if locked is not None else await uow.loans.lock(loan_handle)
    if loan is None or not can_view_loan(call.principal, loan):
        raise loan_not_found(loan_handle)
    if loan.disbursement_reference == gateway_reference:
        try:
            _disbursed_amount(loan, amount, currency)
        except InvalidArgument:
            raise Conflict(
                f"gateway reference {gateway_reference} confirmed this loan's disbursement of "
                f"{from_minor(loan.amount_financed_minor, loan.currency)} {loan.currency}; the same "
                "reference cannot confirm another amount"
            ) from None
        return loan, True
    if loan.status == LoanStatus.CANCELLED:
        raise Conflict(
            f"loan {loan.id} was cancelled before this payout was confirmed: the borrower was paid for a "
            "loan that no longer exists, so the money is to be recovered through the gateway"
        )
    if loan.status != LoanStatus.PENDING_DISBURSEMENT:
        raise Conflict(
            f"loan {loan.id} is {loan.status}: its disbursement was confirmed with gateway reference "
            f"{loan.disbursement_reference}"
        )
    minor = _disbursed_amount(loan, amount, currency)
    # In this transaction, in one read (no second pooled connection while it holds one), with the
    # loan this reference confirmed, if any: refused before anything is written.
    lender = await uow.loans.lender_disbursing(loan.provider_id, gateway_reference)
    assert lender is not None  # a loan's provider is a foreign key
    provider, book, disbursed = lender
    if disbursed is not None:
        raise Conflict(f"gateway reference {gateway_reference} already confirmed another loan's disbursement")
    terms = terms_from_plan(provider.commission_plan, loan.currency)
    performance = performance_of(provider, book)
    commission = disbursement_commission(terms, loan.principal_minor, loan.currency, performance=performance)
    app = await uow.applications.lock(str(loan.application_id))
    assert app is not None
    reason = f"loan {loan.id} disbursed (gateway reference {gateway_reference})"
    await transition(uow, call, app, ApplicationStatus.DISBURSED, reason)
    await post_journal(uow, call, disbursement_journal(loan, gateway_reference))
    if loan.origination_fee_minor:
        await post_journal(uow, call, origination_fee_journal(loan))
    if commission:
        await post_journal(uow, call, commission_journal(loan, commission))
    changes = LoanChanges(
        disbursement_reference=gateway_reference,
        disbursed_amount_minor=minor,
        commission_plan=provider.commission_plan.model_dump(mode="json"),
        commission_minor=commission,
    )
    moved = await move_loan(uow, call, loan, LoanStatus.ACTIVE, reason, changes)
    if loan.origination_fee_minor:
        # The fee was withheld from the payout, so it stays with the provider: free to lend again, on
        # the row that matching reads as in the ledger. Last (tools.platform.locking): the lender's row
        # is the busiest this transaction locks, so it is held only from here to COMMIT.
        await uow.providers.add_capital(loan.provider_id, loan.origination_fee_minor)
    return moved, False


async def visible_loan(deps: LoanDeps, principal: Principal, handle: str) -> LoanRecord:
    """The loan's own row as ``principal`` may see it: one read, without its schedule or timeline."""
    loan = await deps.reader.get(handle)
    if loan is None or not can_view_loan(principal, loan):
        raise loan_not_found(handle)
    return loan


async def get_loan(deps: LoanDeps, principal: Principal, handle: str) -> LoanView:
    view = await loan_view_of(deps, await visible_loan(deps, principal, handle))
    return as_seen_by(view, principal.role)


async def get_repayment_schedule(deps: LoanDeps, principal: Principal, handle: str) -> ScheduleView:
    loan = await visible_loan(deps, principal, handle)
    return schedule_view(loan, await deps.reader.installments(loan.id), deps.clock.today())


def _owed(installments: Sequence[InstallmentRecord]) -> tuple[int, int]:
    owing = open_outstanding(installments)
    return sum(o.principal for o in owing), sum(o.fees for o in owing)


# Raises to refuse a write-off of (the loan, its principal, its fees in minor units) before anything
# is written: what a person confirmed is held to what runs.
WriteOffCheck = Callable[[LoanRecord, int, int], None]


async def write_off_loan(
    deps: LoanDeps, call: Invocation, handle: str, reason: str, as_agreed: WriteOffCheck | None = None
) -> LoanView:
    """Write a defaulted loan off: its outstanding principal and unpaid fees become the provider's
    credit loss (a write_off journal) and the loan is final. ``as_agreed`` sees what will be written
    off under the loan's lock, where no repayment can land before it is."""
    async with deps.uow() as uow:
        loan = await uow.loans.lock(handle)
        if loan is None:
            raise loan_not_found(handle)
        try:
            check_loan_transition(LoanStatus(loan.status), LoanStatus.WRITTEN_OFF)
        except IllegalLoanTransition as exc:
            raise Conflict(f"loan {loan.id}: {exc}; only a defaulted loan is written off") from None
        principal, fees = _owed(await uow.loans.installments(loan.id))
        if as_agreed is not None:
            as_agreed(loan, principal, fees)
        if principal + fees:
            await post_journal(uow, call, write_off_journal(loan, principal, fees, reason))
        moved = await move_loan(
            uow,
            call,
            loan,
            LoanStatus.WRITTEN_OFF,
            f"written off: {reason}",
            LoanChanges(write_off_reason=reason),
        )
    return await loan_view_of(deps, moved)
