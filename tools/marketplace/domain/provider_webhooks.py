"""Outbound webhooks to credit providers: the body we send, what the receiver's answer means, and how
long to wait before the next attempt.

The body is ``{"id": event_id, "type": event_type, "created_at": ..., "data": payload}`` as compact
JSON with sorted keys, so every attempt of one event sends the same bytes (only the timestamp and the
signature over it change). Receivers dedupe on ``id`` (also sent as ``X-CaaS-Event-Id``): delivery is
at least once.

What an answer means (``classify``):

* 2xx: delivered.
* 408 Request Timeout, 425 Too Early and 429 Too Many Requests: the receiver is busy, not refusing;
  retried with backoff (a ``Retry-After`` it sends is honoured as a minimum wait, within the cap).
* Any other 4xx, and 3xx (redirects are not followed: the URL is the operator's configuration, and a
  redirect may point anywhere): refused for good. Retrying cannot change the answer until someone fixes
  the receiver or the provider's URL; an operator then queues the delivery again
  (``retry_webhook_delivery``). 410 Gone is the receiver saying exactly this.
* 5xx, 1xx, timeouts and connection errors: retried with backoff until the attempts run out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WITHHELD_FIELDS",
    "Answer",
    "DeliveryStatus",
    "classify",
    "parse_retry_after",
    "webhook_body",
]

SIGNATURE_HEADER = "X-CaaS-Signature"
TIMESTAMP_HEADER = "X-CaaS-Timestamp"
EVENT_ID_HEADER = "X-CaaS-Event-Id"
EVENT_TYPE_HEADER = "X-CaaS-Event-Type"

# Events carry no personal data, but some carry the borrower's account id (an identifier of a person),
# which the lender does not need to act on an event: it never leaves for a provider.
WITHHELD_FIELDS = frozenset({"borrower_id"})

# Busy rather than refusing: worth another attempt later.
_RETRYABLE_4XX = frozenset({408, 425, 429})


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued, or failed and waiting for its next attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # refused for good, or out of attempts; an operator may queue it again
    SKIPPED = "skipped"  # not sent: the provider is suspended, unknown or has no webhook URL


class Answer(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REFUSED = "refused"


def classify(status_code: int) -> Answer:
    if 200 <= status_code < 300:
        return Answer.DELIVERED
    if status_code in _RETRYABLE_4XX or status_code >= 500 or status_code < 200:
        return Answer.RETRY
    return Answer.REFUSED


def webhook_body(event_id: UUID, event_type: str, created_at: datetime, payload: Mapping[str, Any]) -> bytes:
    data = {k: v for k, v in payload.items() if k not in WITHHELD_FIELDS}
    body = {"id": str(event_id), "type": event_type, "created_at": created_at.isoformat(), "data": data}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (delay seconds or an HTTP date) as a wait from ``now``; None when
    absent or unreadable (a receiver's malformed header must not fail the delivery)."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return timedelta(seconds=min(int(text), 86_400))  # a day is beyond any cap we apply
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:
        return None
    return max(timedelta(0), at - now)
