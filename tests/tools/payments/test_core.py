"""settle, the one way a payment moves on (the worker's answer, a verification, a webhook), on the
in-memory fakes: forward only and once, with its effect on the loan in the same transaction; another
amount or currency is left for an operator; an effect the loan refuses is rolled back alone while the
payment records the money. The gateway, the worker and the webhook routes stay in
tests/mcp_servers/payments/."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from tests.fakes.builders import WORKER, collection, disbursement
from tests.fakes.deps import payment_deps
from tests.fakes.store import FakeStore
from tools.payments.core import Outcome, settle
from tools.payments.domain.payments import PaymentStatus


async def settled(store: FakeStore, payment_id: UUID, target: PaymentStatus, **reported: Any) -> Outcome:
    deps = payment_deps(store)
    async with deps.uow() as uow:
        return await settle(deps, uow, WORKER, payment_id, target, "tests", **reported)


async def test_a_success_moves_the_payment_forward_once_and_activates_the_loan() -> None:
    store = FakeStore()
    loan, payment = await disbursement(store)
    assert (payment.status, payment.vendor) == ("sent", "paystack")
    done = await settled(
        store, payment.id, PaymentStatus.SUCCEEDED, amount_minor=payment.amount_minor, currency="NGN"
    )
    assert (done.outcome, done.payment.status) == ("applied", "succeeded")
    assert done.payment.settled_at == store.clock.now() and done.payment.last_error is None
    assert store.tables.loans[loan.id].status == "active"
    assert store.tables.applications[loan.application_id].status == "disbursed"
    assert len(store.journals_of("disbursement", loan.id)) == 1
    events, commits = list(store.outbox), store.commits

    again = await settled(store, payment.id, PaymentStatus.SUCCEEDED)
    assert (again.outcome, again.payment) == ("ignored", done.payment)
    assert store.outbox == events and store.commits == commits + 1
    assert len(store.journals_of("disbursement", loan.id)) == 1


async def test_a_move_backwards_is_ignored_and_changes_nothing() -> None:
    store = FakeStore()
    loan, payment = await disbursement(store)
    done = await settled(store, payment.id, PaymentStatus.SUCCEEDED)
    events = list(store.outbox)
    for target in (PaymentStatus.FAILED, PaymentStatus.REVERSED, PaymentStatus.SENT, PaymentStatus.REQUESTED):
        late = await settled(store, payment.id, target)
        assert (late.outcome, late.payment) == ("ignored", done.payment), target
    assert store.outbox == events and store.tables.loans[loan.id].status == "active"


async def test_another_amount_or_currency_is_rejected_and_left_for_an_operator() -> None:
    store = FakeStore()
    loan, payment = await disbursement(store)
    for reported in (
        {"amount_minor": 1, "currency": "NGN"},
        {"amount_minor": payment.amount_minor, "currency": "GHS"},
    ):
        odd = await settled(store, payment.id, PaymentStatus.SUCCEEDED, **reported)
        assert (odd.outcome, odd.payment.status) == ("rejected", "sent"), reported
    stored = store.tables.payments[payment.id]
    assert stored.status == "sent" and stored.last_error is not None
    assert store.tables.loans[loan.id].status == "pending_disbursement"
    assert store.journals_of("disbursement", loan.id) == []


async def test_a_failure_fails_the_payment_and_leaves_the_loan_pending() -> None:
    store = FakeStore()
    loan, payment = await disbursement(store)
    failed = await settled(store, payment.id, PaymentStatus.FAILED)
    assert (failed.outcome, failed.payment.status) == ("applied", "failed")
    assert store.tables.loans[loan.id].status == "pending_disbursement"
    assert store.event_types(payment.id)[-1] == "payment.failed"


async def test_a_succeeded_collection_is_allocated_to_the_loan_as_a_repayment() -> None:
    store = FakeStore()
    loan, payment = await collection(store, "5000.00")
    assert (payment.kind, payment.status, payment.vendor) == ("collection", "sent", "paystack")
    paid = await settled(store, payment.id, PaymentStatus.SUCCEEDED, amount_minor=500_000, currency="NGN")
    assert (paid.outcome, paid.payment.status) == ("applied", "succeeded")
    [repayment] = store.tables.repayments.values()
    assert (repayment.loan_id, repayment.reference, repayment.amount_minor) == (
        loan.id,
        payment.reference,
        500_000,
    )
    assert len(store.journals_of("repayment", repayment.id)) == 1


async def test_an_effect_the_loan_refuses_rolls_back_alone_and_the_payment_records_the_money() -> None:
    store = FakeStore()
    loan, payment = await collection(store, "5000.00")
    # Arranged: the loan was paid off another way while the payer was at the vendor's page.
    store.tables.loans[loan.id] = replace(loan, status="closed")
    paid = await settled(store, payment.id, PaymentStatus.SUCCEEDED)
    assert (paid.outcome, paid.payment.status) == ("rejected", "succeeded")
    assert paid.payment.last_error is not None
    assert store.tables.repayments == {} and store.tables.loans[loan.id].status == "closed"
    assert store.event_types(payment.id)[-1] == "payment.succeeded"
