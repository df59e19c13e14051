"""Signed webhooks from the simulated vendors to the platform, delivered with retries.

The ``stripe`` vendor speaks Stripe (``Stripe-Signature: t=,v1=``, event ``id``/``type``/``data.object``,
posted to ``/webhooks/stripe``); every other vendor speaks Paystack (``x-paystack-signature``, body
``{"event", "data": {"id", "reference", "amount", "currency", "status"}}``, posted to
``/webhooks/paystack``). Amounts are in minor units, as the vendors send them. A record of every
webhook, with its delivery status, is kept for ``GET /sandbox/webhooks``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from adapters.platform.http import HttpClient
from adapters.sandbox.state import Payment, SandboxState, WebhookRecord
from tools.platform.domain.signatures import paystack_signature, stripe_signature_header

__all__ = ["STRIPE_TYPES", "WebhookSender", "event_name", "webhook_style"]

log = logging.getLogger("caas.sandbox.webhooks")

# Paystack event names -> what Stripe calls the same fact.
STRIPE_TYPES = {
    "charge.success": "charge.succeeded",
    "charge.failed": "charge.failed",
    "transfer.success": "payout.paid",
    "transfer.failed": "payout.failed",
    "transfer.reversed": "transfer.reversed",
}
_STRIPE_STATUS = {
    "charge.success": "succeeded",
    "charge.failed": "failed",
    "transfer.success": "paid",
    "transfer.failed": "failed",
    "transfer.reversed": "reversed",
}


def webhook_style(vendor: str) -> Literal["paystack", "stripe"]:
    return "stripe" if vendor == "stripe" else "paystack"


def event_name(payment: Payment) -> str:
    """The Paystack event for a payment's current (final) status."""
    return f"{payment.kind}.{payment.status}"


def _paystack_body(payment: Payment, event: str) -> dict[str, Any]:
    return {
        "event": event,
        "data": {
            "id": payment.id,
            "domain": "test",
            "reference": payment.reference,
            "amount": payment.amount_minor,
            "currency": payment.currency,
            "status": payment.status,
            "transfer_code": payment.transfer_code,
            "metadata": payment.metadata,
        },
    }


def _stripe_body(payment: Payment, event: str) -> dict[str, Any]:
    # Stable per (payment, event): a retried delivery carries the id the platform dedupes on.
    digest = hashlib.sha256(f"{payment.vendor}:{payment.id}:{event}".encode()).hexdigest()[:24]
    prefix = "ch" if payment.kind == "charge" else "po"
    return {
        "id": f"evt_{digest}",
        "object": "event",
        "type": STRIPE_TYPES[event],
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "id": f"{prefix}_{payment.id}",
                "object": "charge" if payment.kind == "charge" else "payout",
                "amount": payment.amount_minor,
                "currency": payment.currency.lower(),
                "status": _STRIPE_STATUS[event],
                "metadata": {**payment.metadata, "reference": payment.reference},
            }
        },
    }


class WebhookSender:
    """Builds, signs and delivers webhooks in background tasks; ``aclose()`` cancels what is left."""

    def __init__(
        self,
        state: SandboxState,
        *,
        paystack_secret: str,
        stripe_secret: str,
        target: str | None,
        attempts: int = 5,
        backoff_seconds: float = 0.2,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.state = state
        self.paystack_secret = paystack_secret
        self.stripe_secret = stripe_secret
        self.target = target.rstrip("/") if target else None  # the platform's base URL
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self._http = HttpClient(timeout=httpx.Timeout(timeout_seconds))
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, payment: Payment, *, delay: float = 0.0, event: str | None = None) -> WebhookRecord:
        """Record the webhook for the payment's current status and deliver it in the background."""
        event = event or event_name(payment)
        style = webhook_style(payment.vendor)
        body = _stripe_body(payment, event) if style == "stripe" else _paystack_body(payment, event)
        record = WebhookRecord(
            id=f"wh_{len(self.state.webhooks) + 1}_{payment.id}",
            vendor=payment.vendor,
            style=style,
            event=event,
            reference=payment.reference,
            url=f"{self.target}/webhooks/{style}" if self.target else None,
            body=json.dumps(body, separators=(",", ":")).encode(),
        )
        self.state.webhooks.append(record)
        self.deliver(record, delay=delay)
        return record

    def deliver(self, record: WebhookRecord, *, delay: float = 0.0) -> None:
        if record.url is None:
            record.status = "no_target"
            return
        record.status = "pending"
        task = asyncio.get_running_loop().create_task(self._deliver(record, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def signed_headers(self, record: WebhookRecord) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "caas-sandbox"}
        if record.style == "stripe":
            headers["Stripe-Signature"] = stripe_signature_header(
                record.body, self.stripe_secret, int(time.time())
            )
        else:
            headers["x-paystack-signature"] = paystack_signature(record.body, self.paystack_secret)
        return headers

    async def _deliver(self, record: WebhookRecord, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        assert record.url is not None
        for attempt in range(1, self.attempts + 1):
            record.attempts = attempt
            try:
                # Signed per attempt: a Stripe signature's timestamp must be fresh when it arrives.
                response = await self._http.post(
                    record.url, content=record.body, headers=self.signed_headers(record)
                )
                record.response_status = response.status_code
                record.error = None
                if response.is_success:
                    record.status = "delivered"
                    record.delivered_at = datetime.now(UTC)
                    return
            except httpx.HTTPError as exc:
                record.response_status = None
                record.error = type(exc).__name__
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        record.status = "failed"
        log.warning(
            "sandbox webhook %s (%s) not delivered after %d attempts", record.id, record.event, self.attempts
        )

    async def idle(self) -> None:
        """Wait until every delivery in flight has finished (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._http.aclose()
