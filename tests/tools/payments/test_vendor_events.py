"""receive_gateway_event, a payment vendor's event after its signature was checked, on the in-memory
fakes: each event goes through the inbox once, a success activates the loan or allocates the repayment,
a duplicate has no second effect, an event out of order never moves a payment backwards, another amount
is rejected for an operator, and events that are not ours are recorded and ignored. Signatures, the
HTTP routes and fifty concurrent copies stay in tests/mcp_servers/payments/test_webhook_routes.py."""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.builders import as_, collection, disbursement, uid
from tests.fakes.deps import payment_deps
from tests.fakes.store import FakeStore
from tools.payments.domain.payments import GatewayEvent, PaymentRecord
from tools.payments.payments import disburse_loan
from tools.payments.vendor_events import Receipt, receive_gateway_event
from tools.platform.principal import Role

SERIAL = itertools.count(1)


def event(kind: str, payment: PaymentRecord, **data: Any) -> GatewayEvent:
    """A Paystack event about ``payment``, with a fresh event id unless given one."""
    fields: dict[str, Any] = {
        "event_id": f"{kind}:{next(SERIAL)}",
        "event_type": kind,
        "reference": payment.reference,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "status": kind.split(".")[1],
    }
    return GatewayEvent(**{**fields, **data})


async def receive(store: FakeStore, sent: GatewayEvent) -> Receipt:
    return await receive_gateway_event(payment_deps(store), "paystack", sent, "ab" * 32)


async def test_a_transfer_success_activates_the_loan_and_a_duplicate_has_no_second_effect() -> None:
    store = FakeStore()
    loan, payment = await disbursement(store)
    success = event("transfer.success", payment)
    first = await receive(store, success)
    assert (first.duplicate, first.outcome, first.payment_id) == (False, "applied", payment.id)
    assert store.tables.payments[payment.id].status == "succeeded"
    assert store.tables.loans[loan.id].status == "active"
    assert store.tables.inbox["paystack", success.event_id].outcome == "applied"
    tables = store.tables

    again = await receive(store, success)
    assert (again.duplicate, again.outcome, again.payment_id) == (True, "applied", payment.id)
    assert store.tables == tables  # the same rows: no second journal, event or audit record
    assert len(store.journals_of("disbursement", loan.id)) == 1


async def test_an_event_out_of_order_is_ignored_and_recorded() -> None:
    store = FakeStore()
    loan, payment = await disbursement(store)
    outcomes = []
    for kind in ("transfer.success", "transfer.failed", "transfer.reversed"):
        outcomes.append((await receive(store, event(kind, payment))).outcome)
    # A late failure is ignored; a reversal after the success is rejected for a person (the money may
    # have come back). Neither moves the payment back.
    assert outcomes == ["applied", "ignored", "rejected"]
    assert store.tables.payments[payment.id].status == "succeeded"
    assert store.tables.loans[loan.id].status == "active"
    recorded = [e.outcome for e in store.tables.inbox.values() if e.payment_id == payment.id]
    assert recorded == ["applied", "ignored", "rejected"]


async def test_a_transfer_with_another_amount_is_rejected_and_the_loan_stays_pending() -> None:
    store = FakeStore()
    loan, payment = await disbursement(store)
    odd = await receive(store, event("transfer.success", payment, amount_minor=1))
    assert (odd.duplicate, odd.outcome) == (False, "rejected")
    assert store.tables.payments[payment.id].status == "sent"
    assert store.tables.loans[loan.id].status == "pending_disbursement"


async def test_a_failed_transfer_leaves_the_loan_pending_and_a_new_disbursement_can_be_requested() -> None:
    store = FakeStore()
    loan, payment = await disbursement(store)
    assert (await receive(store, event("transfer.failed", payment))).outcome == "applied"
    assert store.tables.payments[payment.id].status == "failed"
    assert store.tables.loans[loan.id].status == "pending_disbursement"
    operator = as_(uid("op-pay"), Role.OPERATOR)
    again = await disburse_loan(payment_deps(store), operator, str(loan.id), uid("key"))
    assert (again.status.value, again.id != payment.id) == ("requested", True)


async def test_a_charge_success_allocates_the_repayment_once() -> None:
    store = FakeStore()
    loan, payment = await collection(store, "5000.00")
    paid = event("charge.success", payment)
    assert (await receive(store, paid)).outcome == "applied"
    assert (await receive(store, paid)).duplicate is True
    [repayment] = store.tables.repayments.values()
    assert (repayment.loan_id, repayment.reference, repayment.amount_minor) == (
        loan.id,
        payment.reference,
        500_000,
    )


async def test_events_about_no_payment_of_ours_are_recorded_and_ignored() -> None:
    store = FakeStore()
    _, payment = await disbursement(store)
    strangers = [
        event("customeridentification.success", payment),  # a type that moves no payment
        event("transfer.success", payment, reference="trf-somebody-else"),
        event("charge.success", payment),  # a charge event naming a disbursement
        event("transfer.success", payment, reference=payment.reference.replace(str(payment.id)[:8], "0" * 8)),
    ]
    for sent in strangers:
        receipt = await receive(store, sent)
        assert (receipt.outcome, receipt.payment_id) == ("ignored", None), sent.event_type
        assert store.tables.inbox["paystack", sent.event_id].outcome == "ignored"
    assert store.tables.payments[payment.id].status == "sent"
