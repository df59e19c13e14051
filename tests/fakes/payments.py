"""Payments, the webhook inbox and the payment gateway in memory, with the semantics of
``database/payments/payments.py`` and migration 0013: one disbursement per loan in flight or done, a
status that only moves forward (``CheckViolation`` otherwise, as the trigger raises), one inbox row per
(source, event id), and a savepoint that rolls back alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from tests.fakes.store import CheckViolation, FakeStore, Transaction, not_implemented
from tools.ledger.domain.ledger import JournalKind
from tools.payments.domain.payments import (
    ACTIVE_DISBURSEMENT,
    RANK,
    Booking,
    PaymentKind,
    PaymentRecord,
    PaymentStatus,
    gateway_reference,
)
from tools.payments.ports import (
    Flagged,
    GatewayCharge,
    GatewayTransfer,
    GatewayVerification,
    InboxEntry,
    InboxOutcome,
    NewPayment,
    PaymentQuery,
)
from tools.platform.errors import Conflict
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent

__all__ = ["FakeGateway", "FakePaymentReader", "FakePaymentWriter"]


class FakePaymentReader:
    def __init__(self, store: FakeStore) -> None:
        self._store = store

    async def get(self, payment_id: UUID) -> PaymentRecord | None:
        return self._store.tables.payments.get(payment_id)

    async def listing(self, query: PaymentQuery) -> list[PaymentRecord]:
        raise not_implemented("PaymentReader.listing")

    async def inbox(self, source: str, event_id: str) -> InboxEntry | None:
        return self._store.tables.inbox.get((source, event_id))

    async def unapplied_receipts(self) -> int:
        raise not_implemented("PaymentReader.unapplied_receipts")

    async def disputed_successes(self) -> int:
        raise not_implemented("PaymentReader.disputed_successes")

    async def events_with_other_bodies(self, since: timedelta) -> Flagged:
        raise not_implemented("PaymentReader.events_with_other_bodies")

    async def undone_after_success(self, since: timedelta) -> Flagged:
        raise not_implemented("PaymentReader.undone_after_success")

    async def booking(self, payment_id: UUID) -> Booking | None:
        journals = list(self._store.tables.journals.values())
        booked = [j for j in journals if j.kind in (JournalKind.SUSPENSE, JournalKind.PAYOUT_RECOVERY)]
        booking = next((j for j in booked if j.source_id == str(payment_id)), None)
        if booking is None:
            return None
        reversed_ = {j.source_id for j in journals if j.kind == JournalKind.REVERSAL}
        if str(booking.id) in reversed_:
            return Booking.RETURNED
        losses = [j for j in journals if j.kind == JournalKind.PAYOUT_LOSS and j.source_id == str(booking.id)]
        return Booking.WRITTEN_OFF if any(str(j.id) not in reversed_ for j in losses) else Booking.OWED

    async def stalled_charges(self, older_than: timedelta, limit: int) -> list[PaymentRecord]:
        raise not_implemented("PaymentReader.stalled_charges")


class FakePaymentWriter:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def _update(self, payment_id: UUID, **changes: Any) -> PaymentRecord:
        before = self._tx.tables.payments[payment_id]
        after = replace(before, **changes, updated_at=self._tx.now)
        old, new = PaymentStatus(before.status), PaymentStatus(after.status)
        if new is not old and RANK[new] <= RANK[old]:  # caas_core.payments_forward_only
            raise CheckViolation(f"payment {payment_id} cannot move from {old.value} to {new.value}")
        self._tx.tables.payments[payment_id] = after
        return after

    async def insert(self, new: NewPayment) -> PaymentRecord:
        tables, now = self._tx.tables, self._tx.now
        if new.kind == PaymentKind.DISBURSEMENT and await self.active_disbursement(new.loan_id) is not None:
            raise Conflict(
                "this loan already has a disbursement requested, sent or paid; list_payments shows it"
            )
        payment_id = uuid4()
        payment = PaymentRecord(
            id=payment_id,
            kind=new.kind,
            loan_id=new.loan_id,
            amount_minor=new.amount_minor,
            currency=new.currency,
            status=PaymentStatus.REQUESTED.value,
            vendor=None,
            reference=gateway_reference(PaymentKind(new.kind), payment_id),
            attempts=0,
            last_error=None,
            authorization_url=None,
            access_code=None,
            transfer_code=None,
            simulated=new.simulated,
            simulate_outcome=new.simulate_outcome,
            requested_by=new.requested_by,
            created_at=now,
            updated_at=now,
            sent_at=None,
            settled_at=None,
            prepay=new.prepay,
        )
        tables.payments[payment_id] = payment
        return payment

    async def get(self, payment_id: UUID) -> PaymentRecord | None:
        return self._tx.tables.payments.get(payment_id)

    async def lock(self, payment_id: UUID) -> PaymentRecord | None:
        return self._tx.tables.payments.get(payment_id)

    async def active_disbursement(self, loan_id: UUID) -> PaymentRecord | None:
        journals = self._tx.tables.journals.values()
        reversed_ = {j.source_id for j in journals if j.kind == JournalKind.REVERSAL}
        recovered = {
            j.source_id for j in journals if j.kind == JournalKind.PAYOUT_RECOVERY and str(j.id) in reversed_
        }
        return next(
            (
                p
                for p in self._tx.tables.payments.values()
                if p.loan_id == loan_id
                and p.kind == PaymentKind.DISBURSEMENT
                and p.status in ACTIVE_DISBURSEMENT
                and not (p.last_error is not None and str(p.id) in recovered)
            ),
            None,
        )

    async def other_payout(self, loan_id: UUID, besides: UUID) -> PaymentRecord | None:
        return next(
            (
                p
                for p in self._tx.tables.payments.values()
                if p.loan_id == loan_id
                and p.id != besides
                and p.kind == PaymentKind.DISBURSEMENT
                and (p.status in ("requested", "sent") or (p.status == "succeeded" and p.last_error is None))
            ),
            None,
        )

    async def booked_payout(self, loan_id: UUID) -> tuple[PaymentRecord, UUID] | None:
        journals = self._tx.tables.journals.values()
        reversed_ = {j.source_id for j in journals if j.kind == JournalKind.REVERSAL}
        for p in self._tx.tables.payments.values():
            if (p.loan_id, p.kind, p.status) != (loan_id, PaymentKind.DISBURSEMENT, "succeeded"):
                continue
            for j in journals:
                booked = j.kind == JournalKind.PAYOUT_RECOVERY and j.source_id == str(p.id)
                if booked and p.last_error is not None and str(j.id) not in reversed_:
                    return p, j.id
        return None

    async def mark_applied(self, payment_id: UUID) -> PaymentRecord:
        tables = self._tx.tables
        tables.payments[payment_id] = replace(tables.payments[payment_id], last_error=None)
        return tables.payments[payment_id]

    async def start_attempt(self, payment_id: UUID, vendor: str) -> PaymentRecord:
        raise not_implemented("PaymentWriter.start_attempt")

    async def release_attempt(self, payment_id: UUID, error: str) -> None:
        raise not_implemented("PaymentWriter.release_attempt")

    async def success_disputed(self, payment_id: UUID) -> bool:
        return any(
            e.payment_id == payment_id
            and e.outcome == "rejected"
            and e.event_type in ("charge.success", "transfer.success")
            for e in self._tx.tables.inbox.values()
        )

    async def note_error(self, payment_id: UUID, error: str) -> None:
        self._update(payment_id, last_error=error[:500])

    async def mark_sent(
        self,
        payment_id: UUID,
        vendor: str,
        *,
        transfer_code: str | None = None,
    ) -> PaymentRecord:
        before = self._tx.tables.payments[payment_id]
        return self._update(
            payment_id,
            status=PaymentStatus.SENT.value,
            vendor=vendor,
            sent_at=self._tx.now,
            transfer_code=transfer_code or before.transfer_code,
            last_error=None,
        )

    async def mark_charge_sent(
        self,
        payment_id: UUID,
        vendor: str,
        *,
        authorization_url: str,
        access_code: str,
        call: Invocation,
        event: OutboxEvent,
    ) -> PaymentRecord | None:
        if self._tx.tables.payments[payment_id].status != PaymentStatus.REQUESTED:
            return None  # as the Pg UPDATE's WHERE status = 'requested'
        await self.mark_sent(payment_id, vendor)
        sent = self._update(payment_id, authorization_url=authorization_url, access_code=access_code)
        self._tx.tables.audit.append(AuditRecord(call, "payment", str(payment_id)))
        self._tx.tables.outbox.append(event)
        return sent

    async def settle(
        self,
        payment_id: UUID,
        status: str,
        error: str | None,
        call: Invocation,
        event: OutboxEvent,
        inbox: InboxOutcome | None = None,
    ) -> PaymentRecord:
        before, now = self._tx.tables.payments[payment_id], self._tx.now
        moved = self._update(
            payment_id,
            status=status,
            settled_at=now,
            sent_at=before.sent_at or now,
            last_error=before.last_error if error is None else error[:500],
        )
        self._tx.tables.audit.append(AuditRecord(call, "payment", str(payment_id)))
        self._tx.tables.outbox.append(event)
        if inbox is not None:
            await self.conclude(inbox.source, inbox.event_id, inbox.outcome, inbox.detail, payment_id)
        return moved

    async def receive(self, source: str, event_id: str, event_type: str, payload_sha256: str) -> bool:
        inbox = self._tx.tables.inbox
        if (source, event_id) in inbox:
            return False
        inbox[source, event_id] = InboxEntry(
            source, event_id, event_type[:100], "received", None, None, self._tx.now
        )
        self._tx.tables.inbox_sha256[source, event_id] = payload_sha256
        return True

    async def other_body(self, source: str, event_id: str, payload_sha256: str) -> bool:
        key = (source, event_id)
        if self._tx.tables.inbox_sha256[key] == payload_sha256:
            return False
        self._tx.tables.other_bodies[key] = self._tx.tables.other_bodies.get(key, 0) + 1
        return True

    async def conclude(
        self, source: str, event_id: str, outcome: str, detail: str | None, payment_id: UUID | None
    ) -> None:
        inbox = self._tx.tables.inbox
        inbox[source, event_id] = replace(
            inbox[source, event_id],
            outcome=outcome,
            detail=None if detail is None else detail[:1000],
            payment_id=payment_id,
        )

    async def inbox(self, source: str, event_id: str) -> InboxEntry | None:
        return self._tx.tables.inbox.get((source, event_id))

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        return _savepoint(self._tx)


@asynccontextmanager
async def _savepoint(tx: Transaction) -> AsyncIterator[None]:
    """A nested transaction: an exception restores the tables as they were at its start, and goes on."""
    saved, opened = tx.tables.copy(), list(tx.opened_journals)
    try:
        yield
    except BaseException:
        tx.tables, tx.opened_journals = saved, opened
        raise


class FakeGateway:
    """The sandbox side of a charge: ``initialize`` answers with a payer URL and remembers the call."""

    simulated = True

    def __init__(self) -> None:
        self.charges: list[dict[str, Any]] = []

    async def initialize(
        self,
        *,
        vendor: str,
        reference: str,
        amount_minor: int,
        currency: str,
        email: str,
        metadata: Mapping[str, Any],
    ) -> GatewayCharge:
        self.charges.append({"vendor": vendor, "reference": reference, "amount_minor": amount_minor})
        return GatewayCharge(
            reference, f"https://sandbox.invalid/{vendor}/pay/{reference}", f"ac-{reference}", None
        )

    async def transfer(
        self,
        *,
        vendor: str,
        reference: str,
        amount_minor: int,
        currency: str,
        recipient: Mapping[str, str],
        metadata: Mapping[str, Any],
    ) -> GatewayTransfer:
        raise not_implemented("PaymentGateway.transfer")

    async def verify(self, *, vendor: str, reference: str) -> GatewayVerification:
        raise not_implemented("PaymentGateway.verify")
