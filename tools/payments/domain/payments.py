"""Payments as the domain sees them: kinds, the status state machine, gateway references, and the
payment vendors' webhook events reduced to what a payment needs.

A payment only ever moves forward. Each status has a rank and an event or a verification applies only
when it ranks higher than where the payment is: a ``transfer.failed`` that arrives after the
``transfer.success`` it was overtaken by is ignored (and recorded), never undone. ``succeeded`` ranks
above ``failed`` because a definite success means the money moved, whatever was said before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from tools.platform.domain.bounded_json import one_line

__all__ = [
    "ACTIVE_DISBURSEMENT",
    "RANK",
    "UNDONE",
    "Booking",
    "EventEffect",
    "GatewayEvent",
    "Move",
    "PaymentKind",
    "PaymentRecord",
    "PaymentStatus",
    "advance",
    "effect_of",
    "gateway_reference",
    "parse_reference",
    "paystack_event",
    "stripe_event",
    "verified_status",
]


class Booking(StrEnum):
    """Where the booking of money a succeeded payment moved that no loan took stands (suspense for a
    charge, payout_recovery for a payout)."""

    OWED = "owed"  # still to refund to its payer, or to recover from its recipient
    RETURNED = "returned"  # refunded or recovered: its journal reversed
    WRITTEN_OFF = "written_off"  # a payout that will not come back (tools.payments.payout_losses)


class PaymentKind(StrEnum):
    DISBURSEMENT = "disbursement"  # platform -> borrower (a transfer)
    COLLECTION = "collection"  # borrower -> platform (a charge the payer completes)


class PaymentStatus(StrEnum):
    REQUESTED = "requested"  # recorded; the gateway has not (knowingly) got it yet
    SENT = "sent"  # the gateway accepted it; the outcome comes by webhook or verification
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REVERSED = "reversed"  # a transfer the vendor took back before it settled


RANK: Mapping[PaymentStatus, int] = {
    PaymentStatus.REQUESTED: 0,
    PaymentStatus.SENT: 1,
    PaymentStatus.FAILED: 2,
    PaymentStatus.REVERSED: 2,
    PaymentStatus.SUCCEEDED: 3,
}
FINAL = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.REVERSED})
# Ended without paying: refused (failed) or sent back by the vendor (reversed, only ever from requested
# or sent, as the two rank alike). A payout of either may be retried, and may yet be reported paid.
UNDONE = frozenset({PaymentStatus.FAILED, PaymentStatus.REVERSED})
# While a loan has one of these, no other disbursement may be requested for it.
ACTIVE_DISBURSEMENT = frozenset({PaymentStatus.REQUESTED, PaymentStatus.SENT, PaymentStatus.SUCCEEDED})

_REFERENCE = re.compile(
    r"^caas-(disbursement|collection)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)


def gateway_reference(kind: PaymentKind, payment_id: UUID) -> str:
    """The payment's reference at the gateway, derived from its own id: every retry of the same payment
    uses it, so the gateway (and a verification) recognise a payment already made."""
    return f"caas-{kind.value}-{payment_id}"


def parse_reference(reference: str) -> tuple[PaymentKind, UUID] | None:
    match = _REFERENCE.match(reference)
    if match is None:
        return None
    return PaymentKind(match[1]), UUID(match[2])


@dataclass(frozen=True, slots=True)
class Move:
    apply: bool
    reason: str


def advance(current: PaymentStatus, target: PaymentStatus) -> Move:
    """Whether a payment at ``current`` moves to ``target`` (only ever forward)."""
    if current is target:
        return Move(False, f"already {current.value}")
    if RANK[target] > RANK[current]:
        return Move(True, f"{current.value} -> {target.value}")
    return Move(False, f"{target.value} after {current.value} is ignored: a payment never moves backwards")


def verified_status(status: str) -> PaymentStatus:
    """A gateway verification's status as the payment's."""
    return {
        "success": PaymentStatus.SUCCEEDED,
        "failed": PaymentStatus.FAILED,
        "pending": PaymentStatus.SENT,
    }[status]


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRecord:
    id: UUID
    kind: str
    loan_id: UUID
    amount_minor: int
    currency: str
    status: str
    vendor: str | None
    reference: str
    attempts: int
    last_error: str | None
    authorization_url: str | None
    access_code: str | None
    transfer_code: str | None
    simulated: bool
    simulate_outcome: str | None
    requested_by: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    settled_at: datetime | None
    prepay: str | None = None  # a collection's prepayment choice, applied when its repayment is recorded


class EventType(StrEnum):
    TRANSFER_SUCCESS = "transfer.success"
    TRANSFER_FAILED = "transfer.failed"
    TRANSFER_REVERSED = "transfer.reversed"
    CHARGE_SUCCESS = "charge.success"
    CHARGE_FAILED = "charge.failed"


@dataclass(frozen=True, slots=True)
class EventEffect:
    kind: PaymentKind
    target: PaymentStatus


_EFFECTS: Mapping[str, EventEffect] = {
    EventType.TRANSFER_SUCCESS: EventEffect(PaymentKind.DISBURSEMENT, PaymentStatus.SUCCEEDED),
    EventType.TRANSFER_FAILED: EventEffect(PaymentKind.DISBURSEMENT, PaymentStatus.FAILED),
    EventType.TRANSFER_REVERSED: EventEffect(PaymentKind.DISBURSEMENT, PaymentStatus.REVERSED),
    EventType.CHARGE_SUCCESS: EventEffect(PaymentKind.COLLECTION, PaymentStatus.SUCCEEDED),
    EventType.CHARGE_FAILED: EventEffect(PaymentKind.COLLECTION, PaymentStatus.FAILED),
}

# Stripe names the same facts differently; its events are mapped onto the Paystack names above.
_STRIPE_TYPES: Mapping[str, str] = {
    "payout.paid": EventType.TRANSFER_SUCCESS,
    "transfer.paid": EventType.TRANSFER_SUCCESS,
    "payout.failed": EventType.TRANSFER_FAILED,
    "payout.canceled": EventType.TRANSFER_FAILED,
    "payment_intent.succeeded": EventType.CHARGE_SUCCESS,
    "charge.succeeded": EventType.CHARGE_SUCCESS,
    "checkout.session.completed": EventType.CHARGE_SUCCESS,
    "payment_intent.payment_failed": EventType.CHARGE_FAILED,
}


def effect_of(event_type: str) -> EventEffect | None:
    """What an event does to a payment; None for events that concern no payment of ours."""
    return _EFFECTS.get(event_type)


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """A vendor's webhook event, reduced: its dedupe id, its (Paystack-named) type and the payment."""

    event_id: str
    event_type: str
    reference: str | None
    amount_minor: int | None
    currency: str | None
    status: str | None
    # When the vendor says the payer paid (Paystack's ``paid_at``, a Stripe event's ``created``), if it
    # says so readably.
    paid_at: datetime | None = None


def _text(value: Any, what: str, *, most: int = 200) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ValueError(f"{what} is missing or not text")
    text = str(value).strip()
    if len(text) > most:
        raise ValueError(f"{what} is longer than {most} characters")
    if not one_line(text):
        raise ValueError(f"{what} holds control characters")
    return text


def _optional_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _amount(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("amount must be a non-negative integer of minor units")
    return value


def _currency(value: Any) -> str | None:
    if value is None:
        return None
    text = _text(value, "currency").upper()
    if not re.fullmatch(r"[A-Z]{3}", text):
        raise ValueError("currency must be an ISO 4217 code")
    return text


def paystack_event(body: Any) -> GatewayEvent:
    """``{"event": ..., "data": {"id", "reference", "amount" (minor), "currency", "status"}}``; the
    dedupe id is ``"{event}:{data.id}"``, at most 200 characters as the inbox keeps them. Raises
    ValueError when the body is not such an event."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
        raise ValueError("a Paystack event is an object with 'event' and 'data'")
    event = _text(body.get("event"), "event", most=100)
    data = body["data"]
    return GatewayEvent(
        event_id=f"{event}:{_text(data.get('id'), 'data.id', most=199 - len(event))}",
        event_type=event,
        reference=_optional_text(data.get("reference"), "data.reference"),
        amount_minor=_amount(data.get("amount")),
        currency=_currency(data.get("currency")),
        status=_optional_text(data.get("status"), "data.status"),
        paid_at=_moment(data.get("paid_at") or data.get("paidAt")),
    )


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 time with its offset, or None: a time the vendor spells otherwise is not the
    event's to refuse over (the payment is dated when the platform was told instead)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _unix_moment(value: Any) -> datetime | None:
    """A Unix time in whole seconds (Stripe's ``created``) between 1970 and 9999, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < _UNIX_9999:
        return None
    return datetime.fromtimestamp(value, UTC)


_UNIX_9999 = 253_402_300_800  # 10000-01-01T00:00:00Z


def stripe_event(body: Any) -> GatewayEvent:
    """``{"id": "evt_...", "type": ..., "data": {"object": {...}}}``; the dedupe id is the event id.
    The payment's reference is the object's ``reference``, ``metadata.reference`` or
    ``client_reference_id``."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
        raise ValueError("a Stripe event is an object with 'id', 'type' and 'data'")
    raw_type = _text(body.get("type"), "type", most=100)
    data = body["data"]
    obj = data.get("object", data)
    if not isinstance(obj, Mapping):
        raise ValueError("data.object must be an object")
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    reference = obj.get("reference") or metadata.get("reference") or obj.get("client_reference_id")
    event_type = _STRIPE_TYPES.get(raw_type, raw_type)
    if "payment_status" in obj and obj.get("payment_status") != "paid":
        event_type = raw_type  # a completed checkout not paid (yet): no money moved, no payment's effect
    # What moved: a payment intent's amount_received, a checkout session's amount_total, else amount.
    moved = next((obj[k] for k in ("amount_received", "amount_total", "amount") if k in obj), None)
    return GatewayEvent(
        event_id=_text(body.get("id"), "id", most=200),
        event_type=event_type,
        reference=_optional_text(reference, "reference"),
        amount_minor=_amount(moved),
        currency=_currency(obj.get("currency")),
        status=_optional_text(obj.get("status"), "status"),
        # The event's own time: Stripe creates it when the payment succeeds, and redelivers it unchanged.
        paid_at=_unix_moment(body.get("created")),
    )
