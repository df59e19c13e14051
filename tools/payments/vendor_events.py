"""Webhooks received, after their signature was checked: the payment vendors' events (transfers and
charges) and the credit providers' own events (bids, decisions on their invitations).

Each event is written to the inbox, keyed by (source, event id), in the same transaction as its effect:
a duplicate (or a concurrent copy, which waits for the first) finds the row and changes nothing; an
effect that fails with an error rolls back with its row, so the sender's retry is processed afresh. An
effect a use case refuses is rolled back alone (a savepoint) and the row records why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from tools.marketplace.bidding import BiddingDeps, place_bid_in
from tools.marketplace.invitations import decline_invitation_in
from tools.marketplace.models.bids import BidInput
from tools.payments.core import InboxUnitOfWork, PaymentDeps, settle
from tools.payments.domain.payments import GatewayEvent, effect_of, parse_reference
from tools.platform.errors import DomainError
from tools.platform.models import describe_validation_error
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

__all__ = ["DECLINES", "Receipt", "receive_gateway_event", "receive_provider_event"]

# The ``decision`` values of an ``application.decision`` event that decline the invitation to bid.
DECLINES = frozenset({"decline", "declined"})


@dataclass(frozen=True, slots=True)
class Receipt:
    duplicate: bool
    outcome: str  # applied | recorded | ignored | rejected (see migration 0013)
    detail: str | None
    payment_id: UUID | None = None
    code: str | None = None  # the refusing use case's error code, for a rejected provider event


def _gateway_call(source: str, payload_sha256: str) -> Invocation:
    return Invocation(Principal(f"webhook:{source}", Role.SERVICE), f"webhooks.{source}", payload_sha256)


async def _duplicate(uow: InboxUnitOfWork, source: str, event_id: str) -> Receipt:
    entry = await uow.payments.inbox(source, event_id)
    assert entry is not None  # the conflicting row is committed by now
    return Receipt(True, entry.outcome, entry.detail, entry.payment_id)


async def receive_gateway_event(
    deps: PaymentDeps, source: str, event: GatewayEvent, payload_sha256: str
) -> Receipt:
    """A payment vendor's event: ``transfer.success`` activates the loan, ``charge.success`` allocates a
    repayment, ``transfer.failed``/``reversed`` and ``charge.failed`` fail the payment; never backwards."""
    call = _gateway_call(source, payload_sha256)
    async with deps.inflight.hold(f"{source}:{event.event_id}"), deps.uow() as uow:
        if not await uow.payments.receive(source, event.event_id, event.event_type, payload_sha256):
            return await _duplicate(uow, source, event.event_id)
        outcome, detail, payment_id = await _gateway_effect(deps, uow, call, source, event)
        await uow.payments.conclude(source, event.event_id, outcome, detail, payment_id)
    return Receipt(False, outcome, detail, payment_id)


async def _gateway_effect(
    deps: PaymentDeps, uow: InboxUnitOfWork, call: Invocation, source: str, event: GatewayEvent
) -> tuple[str, str, UUID | None]:
    effect = effect_of(event.event_type)
    if effect is None:
        return "ignored", f"{event.event_type} changes no payment", None
    parsed = None if event.reference is None else parse_reference(event.reference)
    if parsed is None:
        return "ignored", "the reference is not one of this platform's payments", None
    kind, payment_id = parsed
    if kind is not effect.kind:
        return "ignored", f"{event.event_type} concerns a {effect.kind.value}, not a {kind.value}", None
    if await uow.payments.get(payment_id) is None:
        return "ignored", f"no payment {payment_id}", None
    result = await settle(
        deps,
        uow,
        call,
        payment_id,
        effect.target,
        f"{source} {event.event_type}",
        amount_minor=event.amount_minor,
        currency=event.currency,
    )
    return result.outcome, result.detail, payment_id


def provider_source(provider_id: UUID) -> str:
    return f"provider:{provider_id}"


async def receive_provider_event(
    payments: PaymentDeps,
    bidding: BiddingDeps,
    provider_id: UUID,
    event_id: str,
    event_type: str,
    data: Mapping[str, Any],
    payload_sha256: str,
) -> Receipt:
    """A provider's event, acting as that provider: ``bid.submitted`` places a bid exactly as the
    place_bid tool does; ``application.decision`` with decision decline(d) declines the invitation exactly
    as the decline_invitation tool does; other decisions and any other event are recorded for operators."""
    source = provider_source(provider_id)
    principal = Principal(f"provider-webhook:{provider_id}", Role.PROVIDER, str(provider_id))
    call = Invocation(principal, f"webhooks.providers.{event_type}"[:100], payload_sha256)
    async with payments.inflight.hold(f"{source}:{event_id}"), payments.uow() as uow:
        if not await uow.payments.receive(source, event_id, event_type, payload_sha256):
            return await _duplicate(uow, source, event_id)
        receipt = await _provider_effect(bidding, uow, call, provider_id, event_id, event_type, data)
        await uow.payments.conclude(source, event_id, receipt.outcome, receipt.detail, None)
    return receipt


async def _provider_effect(
    bidding: BiddingDeps,
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
