"""Which queues an outbox event feeds, and how long a failed job waits before its next attempt.

Each queue subscribes to event types (exact names, or a prefix ending in ``.``) and names the key its
jobs are ordered by: jobs with the same key run one at a time in the order their events were
written, so an application's mirror or a provider's webhooks never overtake each other.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tools.notifications.domain.templates import template_for

__all__ = ["SUBSCRIPTIONS", "JobRoute", "Subscription", "backoff_delay", "routes"]

Payload = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JobRoute:
    queue: str
    ordering_key: str | None


@dataclass(frozen=True, slots=True)
class Subscription:
    queue: str
    event_types: frozenset[str]
    key: Callable[[str, Payload], str | None]
    # A queue may take only some events of a type (a payment event for one kind of payment, say).
    accepts: Callable[[str, Payload], bool] = lambda _type, _payload: True

    def matches(self, event_type: str) -> bool:
        return event_type in self.event_types or any(
            t.endswith(".") and event_type.startswith(t) for t in self.event_types
        )


def _application_key(_: str, payload: Payload) -> str | None:
    value = payload.get("application_id")
    return None if value is None else f"application:{value}"


def _provider_key(_: str, payload: Payload) -> str | None:
    value = payload.get("provider_id")
    return None if value is None else f"provider:{value}"


def _payment_key(_: str, payload: Payload) -> str | None:
    value = payload.get("payment_id")
    return None if value is None else f"payment:{value}"


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # The Supabase mirror and the borrower's notifications follow the application and its loan.
    Subscription(
        "supabase_sync",
        # document.*: the borrower's document_uploads mirror (metadata only, never the file).
        frozenset({"application.", "loan.", "offer.accepted", "payment.", "document."}),
        _application_key,
        accepts=lambda _t, p: p.get("application_id") is not None,
    ),
    # Only the events the borrower is told about: a job for the others would be claimed and finished
    # without doing anything (most of a journey's events have no template).
    Subscription(
        "notifications",
        frozenset({"application.", "loan.", "offer.accepted", "bid.placed", "payment."}),
        _application_key,
        accepts=lambda t, p: p.get("application_id") is not None and template_for(t, p) is not None,
    ),
    # What a lender is told about: its invitations, its bids' fate, the decision on its offer
    # (offer.released: the application of its accepted offer ended without a loan).
    Subscription(
        "provider_webhooks",
        frozenset(
            {
                "provider.invited",
                "provider.bidding_closed",
                "bid.",
                "offer.accepted",
                "offer.released",
                "loan.",
            }
        ),
        _provider_key,
        accepts=lambda _t, p: p.get("provider_id") is not None,
    ),
    # Payouts only: a collection's charge is opened by the call that requested it (tools.payments.charges).
    Subscription(
        "payments",
        frozenset({"payment.requested"}),
        _payment_key,
        accepts=lambda _t, p: p.get("kind") == "disbursement",
    ),
)


def routes(
    event_type: str, payload: Payload, subscriptions: tuple[Subscription, ...] = SUBSCRIPTIONS
) -> list[JobRoute]:
    return [
        JobRoute(s.queue, s.key(event_type, payload))
        for s in subscriptions
        if s.matches(event_type) and s.accepts(event_type, payload)
    ]


def backoff_delay(
    attempt: int,
    *,
    base: timedelta = timedelta(seconds=1),
    cap: timedelta = timedelta(minutes=30),
    rng: Callable[[], float] = random.random,
) -> timedelta:
    """Exponential backoff with full jitter: a random wait in [base/2, base * 2**(attempt-1)] capped,
    so many workers failing on one dependency spread their retries instead of retrying together."""
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** max(attempt - 1, 0))
    floor = min(ceiling, base.total_seconds() / 2)
    return timedelta(seconds=floor + (ceiling - floor) * rng())
