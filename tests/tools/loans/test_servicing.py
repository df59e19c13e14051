"""record_repayment and quote_early_settlement on the in-memory fakes: the allocation (fees, interest,
principal, oldest installment first; prepayment from the last installment; the excess kept as the
borrower's credit), closing a paid-off loan, its journals, idempotency by reference and by key, and
the refusals, each storing nothing. The tools' roles and argument schema stay in
tests/mcp_servers/loans/test_servicing.py.

The test loan (tests/fakes/builders.py): 250,000.00 NGN at 24% over 12 monthly annuity installments of
23,639.90, disbursed on 2 March 2026; the first is due 2 April, 5,000.00 interest and 18,639.90
principal. Time moves forward with the store's clock instead of back-dating the loan."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from tests.fakes.builders import active_loan, as_, pending_loan, uid
from tests.fakes.deps import loan_deps
from tests.fakes.store import FakeStore
from tools.ledger.domain.chart import account
from tools.ledger.ledger import post_journal
from tools.loans.domain.journals import late_fee_journal
from tools.loans.domain.loans import LoanRecord
from tools.loans.models.loans import RepaymentView
from tools.loans.servicing import quote_early_settlement, record_repayment
from tools.platform.errors import DomainError
from tools.platform.principal import Role

SERVICE = as_("svc-payments", Role.SERVICE, tool="tests.record_repayment")


def minor(money: Any) -> int:
    return int(money.amount.scaleb(2))


def lines(view: RepaymentView) -> list[tuple[str, int | None, int]]:
    return [(a.component.value, a.installment, minor(a.amount)) for a in view.allocation]


def after_first_due(store: FakeStore, loan: LoanRecord, days: int, months: int = 0) -> datetime:
    """Move the clock to ``days`` after installment ``1 + months`` fell due."""
    target = loan.first_due_date + timedelta(days=days)
    if months:
        target = store.tables.installments[loan.id][months].due_date + timedelta(days=days)
    return store.clock.move(days=(target - store.clock.today()).days)


async def repay(
    store: FakeStore, loan: LoanRecord, amount: str, reference: str | None = None, **kw: Any
) -> RepaymentView:
    paid_at = kw.pop("paid_at", store.clock.now())
    reference = reference or uid("pay")
    return await record_repayment(
        loan_deps(store), SERVICE, str(loan.id), Decimal(amount), paid_at, reference, **kw
    )


async def refused(store: FakeStore, loan: LoanRecord | str, amount: str, **kw: Any) -> str:
    """The error code of a refused repayment, after checking that it stored nothing."""
    tables, commits = store.tables, store.commits
    handle = loan if isinstance(loan, str) else str(loan.id)
    with pytest.raises(DomainError) as exc:
        paid_at = kw.pop("paid_at", store.clock.now())
        reference = kw.pop("reference", uid("pay"))
        await record_repayment(loan_deps(store), SERVICE, handle, Decimal(amount), paid_at, reference, **kw)
    assert store.tables is tables and store.commits == commits
    return exc.value.code


def balance(store: FakeStore, owner: str, purpose: str, owner_id: object) -> int:
    qualifier = "onasis" if purpose == "cash_clearing" else None
    return store.balance(
        account(owner, purpose, "NGN", None if owner_id is None else str(owner_id), qualifier)
    )


async def test_a_partial_then_an_early_payment_are_allocated_and_explained() -> None:
    store = FakeStore()
    loan = await active_loan(store)
    after_first_due(store, loan, days=3)

    first = await repay(store, loan, "10000.00")
    assert lines(first) == [("interest", 1, 500_000), ("principal", 1, 500_000)]
    assert (minor(first.to_interest), minor(first.to_principal), minor(first.overdue_after)) == (
        500_000,
        500_000,
        1_363_990,
    )
    assert any(s.startswith("Partial payment: ₦13,639.90") for s in first.summary)
    assert (first.loan_status.value, first.replayed) == ("active", False)

    # 6,360.10 beyond installment 1 pays installment 2 ahead: its interest, 23,136,010 * 0.02 =
    # 462,720.2 -> 4,627.20, then 1,732.90 of its principal; the last installment is untouched.
    second = await repay(store, loan, "20000.00")
    assert lines(second) == [("principal", 1, 1_363_990), ("interest", 2, 462_720), ("principal", 2, 173_290)]
    assert second.allocation[1].explanation.endswith("paid ahead of its due date")
    assert any(s.startswith("Paid ahead: ₦6,360.10") for s in second.summary)
    assert (minor(second.overdue_after), minor(second.credit), minor(second.prepaid_principal)) == (0, 0, 0)
    assert (minor(second.paid_ahead), second.prepay) == (636_010, None)
    event = [e for e in store.tables.outbox if e.event_type == "loan.repayment_recorded"][-1]
    assert (event.payload["paid_ahead_minor"], event.payload["prepay"]) == (636_010, None)

    installments = store.tables.installments[loan.id]
    assert installments[0].settled_at is not None and installments[0].outstanding.total == 0
    assert installments[1].outstanding.principal == installments[1].scheduled_principal_minor - 173_290
    assert installments[11].outstanding.principal == installments[11].scheduled_principal_minor
    assert balance(store, "loan", "principal_receivable", loan.id) == 25_000_000 - 2_500_000 + 462_720
    assert balance(store, "provider", "interest_income", loan.provider_id) == 500_000 + 462_720
    assert store.event_types(loan.id).count("loan.repayment_recorded") == 2


async def test_fees_then_interest_then_principal_are_paid_installment_by_installment_oldest_first() -> None:
    store = FakeStore()
    loan = await active_loan(store)
    after_first_due(store, loan, days=3, months=1)  # installments 1 and 2 are due
    async with loan_deps(store).uow() as uow:  # late fees of 1,000.00 each, as aging assesses them
        dues = await uow.loans.installments(loan.id)
        await uow.loans.save_installments(loan.id, [replace(i, fee_due_minor=100_000) for i in dues[:2]])
        for number in (1, 2):
            await post_journal(uow, SERVICE, late_fee_journal(loan, number, 100_000))
    one, two = store.tables.installments[loan.id][:2]
    paid = await repay(store, loan, "45000.00")
    rest = 4_500_000 - 100_000 - 2_363_990 - 100_000 - two.scheduled_interest_minor
    assert lines(paid) == [
        ("fee", 1, 100_000),
        ("interest", 1, one.scheduled_interest_minor),
        ("principal", 1, one.scheduled_principal_minor),
        ("fee", 2, 100_000),
        ("interest", 2, two.scheduled_interest_minor),
        ("principal", 2, rest),
    ]
    assert (minor(paid.to_fees), balance(store, "loan", "fees_receivable", loan.id)) == (200_000, 0)
    assert minor(paid.overdue_after) == two.scheduled_principal_minor - rest


async def test_paying_the_early_settlement_quote_closes_the_loan() -> None:
    store = FakeStore()
    loan = await active_loan(store)
    store.clock.move(days=10)  # nothing is due yet
    borrower = as_(loan.borrower_id, Role.BORROWER).principal
    quote = await quote_early_settlement(loan_deps(store), borrower, str(loan.id))
    # 250,000.00 at 24% for 10/365 of a year: 1,643.835... -> 1,643.84
    assert (minor(quote.principal), minor(quote.interest_due), minor(quote.accrued_interest)) == (
        25_000_000,
        0,
        164_384,
    )
    assert (quote.accrued_days, minor(quote.total), quote.valid_until) == (
        10,
        25_164_384,
        store.clock.today(),
    )
    later = await quote_early_settlement(loan_deps(store), borrower, str(loan.id), valid_days=5)
    # Good five more days: interest to the last of them, rounded once (2,465.7534... -> 2,465.75).
    assert (later.accrued_days, minor(later.total)) == (15, 25_000_000 + 246_575)

    paid = await repay(store, loan, str(quote.total.amount))
    assert (paid.loan_status.value, minor(paid.credit), minor(paid.to_accrued_interest)) == (
        "closed",
        0,
        164_384,
    )
    assert minor(paid.prepaid_principal) == 25_000_000
    assert "The loan is paid off and closed" in paid.summary
    closed = store.tables.loans[loan.id]
    assert (closed.status, closed.closed_at) == ("closed", store.clock.now())
    assert store.tables.loan_transitions[loan.id][-1].to_status == "closed"
    assert "loan.closed" in store.event_types(loan.id)
    assert balance(store, "loan", "principal_receivable", loan.id) == 0
    assert balance(store, "provider", "interest_income", loan.provider_id) == 164_384
    assert await refused(store, loan, "1.00") == "conflict"
    with pytest.raises(DomainError) as again:
        await quote_early_settlement(loan_deps(store), borrower, str(loan.id))
    assert again.value.code == "conflict"


async def test_an_over_payment_closes_the_loan_and_is_held_as_the_borrowers_credit() -> None:
    store = FakeStore()
    loan = await active_loan(store)
    paid = await repay(store, loan, "260000.00")
    assert (paid.loan_status.value, minor(paid.credit)) == ("closed", 1_000_000)
    assert paid.allocation[-1].component.value == "credit"
    assert any(s.startswith("Over-payment: ₦10,000.00") for s in paid.summary)
    assert store.tables.loans[loan.id].credit_minor == 1_000_000
    assert balance(store, "borrower", "payable", loan.borrower_id) == 1_000_000
    # The lender is settled the 250,000.00 repaid; the excess stays in clearing, held for the borrower.
    assert balance(store, "platform", "cash_clearing", None) == 1_000_000


async def test_a_repayment_records_once_by_reference_or_by_idempotency_key() -> None:
    store = FakeStore()
    loan = await active_loan(store)
    after_first_due(store, loan, days=1)
    reference = uid("pay")
    first = await repay(store, loan, "1000.00", reference)
    journals = len(store.tables.journals)
    again = await repay(store, loan, "1000.00", reference, paid_at=first.paid_at)  # delivered twice
    assert (again.id, again.replayed, again.allocation) == (first.id, True, first.allocation)
    assert await refused(store, loan, "2000.00", reference=reference, paid_at=first.paid_at) == "conflict"
    key = uid("key")
    once = await repay(store, loan, "1000.00", idempotency_key=key, reference="pay-keyed")
    twice = await repay(
        store, loan, "1000.00", idempotency_key=key, reference="pay-keyed", paid_at=once.paid_at
    )
    assert (twice.id, twice.replayed) == (once.id, True)
    assert await refused(store, loan, "3.00", idempotency_key=key, reference="pay-keyed") == "conflict"
    assert len(store.tables.repayments) == 2
    assert len(store.tables.journals) == journals + 2  # the keyed one's repayment and settlement journals
    overdue = sum(i.outstanding.total for i in store.tables.installments[loan.id] if i.number == 1)
    assert overdue == 2_363_990 - 200_000


async def test_a_future_or_early_paid_at_and_other_bad_repayments_are_refused_and_store_nothing() -> None:
    store = FakeStore()
    pending = await pending_loan(store)
    loan = await active_loan(store)
    store.clock.move(days=1)
    now = store.clock.now()
    assert await refused(store, loan, "100.00", paid_at=now + timedelta(minutes=6)) == "invalid_argument"
    assert await refused(store, loan, "100.00", paid_at=now.replace(tzinfo=None)) == "invalid_argument"
    assert await refused(store, loan, "100.00", paid_at=now - timedelta(days=3)) == "invalid_argument"
    for amount in ("0", "-5.00", "1.001"):  # NGN has two decimals
        assert await refused(store, loan, amount) == "invalid_argument", amount
    assert await refused(store, str(uuid4()), "100.00") == "not_found"
    assert await refused(store, pending, "100.00") == "conflict"  # not disbursed yet
    stranger = as_(uid("b"), Role.BORROWER).principal
    borrower = as_(loan.borrower_id, Role.BORROWER).principal
    for who, kw, code in (
        (stranger, {}, "not_found"),
        (borrower, {"as_of": loan.origination_date - timedelta(days=1)}, "invalid_argument"),
        (borrower, {"valid_days": -1}, "invalid_argument"),
    ):
        with pytest.raises(DomainError) as exc:
            await quote_early_settlement(loan_deps(store), who, str(loan.id), **kw)
        assert exc.value.code == code, kw
    # A gateway clock a little fast is tolerated: five minutes ahead is still now.
    assert (await repay(store, loan, "100.00", paid_at=now + timedelta(minutes=5))).replayed is False


async def test_interest_paid_ahead_counts_against_the_settlement_quotes_accrued_interest() -> None:
    store = FakeStore()
    loan = await active_loan(store)
    store.clock.move(days=5)
    ahead = await repay(store, loan, "23639.90")  # installment 1, its 5,000.00 of interest paid ahead
    assert (minor(ahead.paid_ahead), [a.installment for a in ahead.allocation]) == (2_363_990, [1, 1])
    store.clock.move(days=5)
    borrower = as_(loan.borrower_id, Role.BORROWER).principal
    quote = await quote_early_settlement(loan_deps(store), borrower, str(loan.id))
    # 231,360.10 at 24% for 10/365 of a year is 1,521.30, less the 5,000.00 already paid ahead: nothing
    # more, so the interest of the period is not charged twice.
    assert (minor(quote.principal), minor(quote.accrued_interest), minor(quote.total)) == (
        23_136_010,
        0,
        23_136_010,
    )
    assert "less ₦5,000.00 paid ahead" in quote.lines[2]
    paid = await repay(store, loan, str(quote.total.amount))
    assert (paid.loan_status.value, minor(paid.credit), minor(paid.to_accrued_interest)) == ("closed", 0, 0)
    assert balance(store, "loan", "principal_receivable", loan.id) == 0
    assert balance(store, "provider", "interest_income", loan.provider_id) == 500_000
