"""What the sandbox remembers, in memory: charges, transfers, captured messages, sent webhooks.

Payments are keyed by (vendor, reference), as each vendor is its own system: a reference recorded at
paystack is unknown to flutterwave, which is what lets the platform's fallback logic be tested.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["OUTCOMES", "Message", "Payment", "SandboxState", "WebhookRecord"]

# What a request may ask the simulated vendor to do (metadata.simulate or X-Sandbox-Outcome).
OUTCOMES = frozenset(
    {"success", "failure", "pending", "late_webhook", "timeout_after_success", "server_error", "rejected"}
)

PaymentKind = Literal["charge", "transfer"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Payment:
    """A charge (money in, paid by the payer on the pay page) or a transfer (money out)."""

    id: int  # the vendor's numeric id: Paystack webhooks carry it as data.id
    kind: PaymentKind
    vendor: str
    reference: str
    amount_minor: int
    currency: str
    outcome: str
    status: str = "pending"  # pending | success | failed | reversed
    access_code: str | None = None
    transfer_code: str | None = None
    email: str | None = None
    recipient: dict[str, str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)  # headers we were sent (no key values)
    paid: bool = False  # the payer submitted the pay page (a pending charge may still await settle)
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)

    def set_status(self, status: str) -> None:
        self.status = status
        self.updated_at = _now()

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "vendor": self.vendor,
            "reference": self.reference,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "status": self.status,
            "outcome": self.outcome,
            "access_code": self.access_code,
            "transfer_code": self.transfer_code,
            "email": self.email,
            "recipient": self.recipient,
            "metadata": self.metadata,
            "request": self.request,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(slots=True)
class Message:
    id: str
    channel: Literal["sms", "email"]
    to: str
    text: str
    reference: str
    subject: str | None = None
    at: datetime = field(default_factory=_now)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "reference": self.reference,
            "at": self.at.isoformat(),
        }


@dataclass(slots=True)
class WebhookRecord:
    id: str
    vendor: str
    style: Literal["paystack", "stripe"]
    event: str
    reference: str
    url: str | None
    body: bytes
    status: str = "pending"  # pending | delivered | failed | no_target
    attempts: int = 0
    response_status: int | None = None
    error: str | None = None
    created_at: datetime = field(default_factory=_now)
    delivered_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vendor": self.vendor,
            "style": self.style,
            "event": self.event,
            "reference": self.reference,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "response_status": self.response_status,
            "error": self.error,
            "body": self.body.decode(),
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


class SandboxState:
    def __init__(self) -> None:
        self.payments: dict[tuple[str, str], Payment] = {}
        self.by_access_code: dict[str, Payment] = {}
        self.messages: dict[str, Message] = {}  # by reference: a re-sent message is not sent twice
        self.webhooks: list[WebhookRecord] = []
        self.down: set[str] = set()  # vendors (or "sms"/"email") answering 503
        self._ids: set[int] = set()

    def new_id(self) -> int:
        # Random, not a counter: a restarted sandbox must not reuse an id the platform already
        # deduped a webhook on ("transfer.success:<id>").
        while True:
            ident = secrets.randbelow(2**52 - 10**6) + 10**6
            if ident not in self._ids:
                self._ids.add(ident)
                return ident

    def add(self, payment: Payment) -> Payment:
        self.payments[(payment.vendor, payment.reference)] = payment
        if payment.access_code:
            self.by_access_code[payment.access_code] = payment
        return payment

    def find(self, vendor: str, reference: str) -> Payment | None:
        return self.payments.get((vendor, reference))

    def listing(self, kind: PaymentKind, reference: str | None = None) -> list[dict[str, Any]]:
        return [
            p.public()
            for p in self.payments.values()
            if p.kind == kind and (reference is None or p.reference == reference)
        ]

    def reset(self) -> None:
        self.payments.clear()
        self.by_access_code.clear()
        self.messages.clear()
        self.webhooks.clear()
        self.down.clear()
