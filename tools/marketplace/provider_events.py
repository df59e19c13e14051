"""Events credit providers post to the platform (``/webhooks/providers/{provider_id}``), after their
signature was checked: ``bid.submitted`` places a bid and ``application.decision`` declines an invitation,
through the same use cases as the tools; anything else is recorded for operators.

Each event goes through the webhook inbox of the payments service (``tools.payments.vendor_events``):
keyed by (source, event id) in the transaction of its effect, so a duplicate changes nothing. Webhooks
the platform sends to providers are ``tools.marketplace.provider_webhooks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from tools.marketplace.bidding import place_bid_in
from tools.marketplace.invitations import decline_invitation_in
from tools.marketplace.models.bids import BidInput
from tools.marketplace.ports import MarketplaceDeps
from tools.payments.ports import InboxUnitOfWork, PaymentDeps
from tools.payments.vendor_events import Receipt, duplicate_receipt
from tools.platform.errors import DomainError
from tools.platform.models import describe_validation_error
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

__all__ = ["DECLINES", "provider_source", "receive_provider_event"]


# The ``decision`` values of an ``application.decision`` event that decline the invitation to bid.
DECLINES = frozenset({"decline", "declined"})


def provider_source(provider_id: UUID) -> str:
    return f"provider:{provider_id}"


async def receive_provider_event(
    payments: PaymentDeps,
    bidding: MarketplaceDeps,
    provider_id: UUID,
    event_id: str,
    event_type: str,
    data: Mapping[str, Any],
    payload_sha256: str,
    request_id: str | None = None,
    client_ip: str | None = None,
) -> Receipt:
    """A provider's event, acting as that provider: ``bid.submitted`` places a bid exactly as the
    place_bid tool does; ``application.decision`` with decision decline(d) declines the invitation exactly
    as the decline_invitation tool does; other decisions and any other event are recorded for operators."""
    source = provider_source(provider_id)
    principal = Principal(f"provider-webhook:{provider_id}", Role.PROVIDER, str(provider_id))
    call = Invocation(
        principal, f"webhooks.providers.{event_type}"[:100], payload_sha256, request_id, client_ip
    )
    async with payments.inflight.hold(f"{source}:{event_id}"), payments.uow() as uow:
        if not await uow.payments.receive(source, event_id, event_type, payload_sha256):
            return await duplicate_receipt(uow, source, event_id, payload_sha256)
        receipt = await _provider_effect(bidding, uow, call, provider_id, event_id, event_type, data)
        await uow.payments.conclude(source, event_id, receipt.outcome, receipt.detail, None)
    return receipt


async def _provider_effect(
    bidding: MarketplaceDeps,
    uow: InboxUnitOfWork,
    call: Invocation,
    provider_id: UUID,
    event_id: str,
    event_type: str,
    data: Mapping[str, Any],
) -> Receipt:
    if event_type == "bid.submitted":
        application = data.get("application") or data.get("application_id")
        try:
            if not isinstance(application, str) or not application.strip():
                raise ValueError("data.application (the application's id or reference) is required")
            bid = BidInput.model_validate(data.get("bid"))
        except ValidationError as exc:
            return Receipt(
                False, "rejected", f"data.bid: {describe_validation_error(exc)}", code="invalid_argument"
            )
        except ValueError as exc:
            return Receipt(False, "rejected", str(exc), code="invalid_argument")
        try:
            async with uow.payments.savepoint():
                placed = await place_bid_in(bidding, uow, call, application.strip(), bid)
        except DomainError as exc:
            return Receipt(False, "rejected", exc.message, code=exc.code)
        return Receipt(False, "applied", f"bid {placed.id} placed (version {placed.version})")
    decision = data.get("decision")
    if event_type == "application.decision" and isinstance(decision, str) and decision in DECLINES:
        return await _decline(uow, call, data)
    # No use case acts on these (an "interested" decision, say): they are kept, with an event, so that
    # operators see them.
    application = data.get("application") or data.get("application_id")
    summary = {
        "provider_id": str(provider_id),
        "event_id": event_id,
        "event_type": event_type,
        "application": application if isinstance(application, str) else None,
        "decision": decision if isinstance(decision, str) else None,
    }
    await uow.record(
        AuditRecord(call, "provider_event", event_id[:200]),
        [OutboxEvent("provider", str(provider_id), "provider.event_received", summary)],
    )
    return Receipt(False, "recorded", f"{event_type} recorded; no use case acts on it")


async def _decline(uow: InboxUnitOfWork, call: Invocation, data: Mapping[str, Any]) -> Receipt:
    """``application.decision`` with decision decline(d): the decline_invitation use case, as the provider."""
    application = data.get("application_id") or data.get("reference") or data.get("application")
    reason = data.get("reason")
    if not isinstance(application, str) or not application.strip():
        return Receipt(
            False,
            "rejected",
            "data.application_id (or data.reference) is required to decline",
            code="invalid_argument",
        )
    if not isinstance(reason, str):
        return Receipt(
            False, "rejected", "data.reason (text) is required to decline", code="invalid_argument"
        )
    try:
        async with uow.payments.savepoint():
            declined = await decline_invitation_in(uow, call, application.strip(), reason)
    except DomainError as exc:
        return Receipt(False, "rejected", exc.message, code=exc.code)
    if declined.already_declined:  # another event (or the tool) declined it first: nothing changed
        return Receipt(False, "ignored", f"the invitation to {declined.reference} was already declined")
    return Receipt(False, "applied", f"the invitation to {declined.reference} declined")
