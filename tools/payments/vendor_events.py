"""Payment vendors' webhooks (transfers and charges), after their signature was checked, and the webhook
inbox every inbound event goes through (lenders' events too: ``tools.marketplace.provider_events``).

Each event is written to the inbox, keyed by (source, event id), in the same transaction as its effect:
a duplicate (or a concurrent copy, which waits for the first) finds the row and changes nothing; an
effect that fails with an error rolls back with its row, so the sender's retry is processed afresh. An
effect a use case refuses is rolled back alone (a savepoint) and the row records why.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from tools.payments.core import NoSuchPayment, Report, settle
from tools.payments.domain.payments import GatewayEvent, effect_of, parse_reference
from tools.payments.ports import InboxUnitOfWork, PaymentDeps
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role

__all__ = ["Receipt", "duplicate_receipt", "receive_gateway_event"]


@dataclass(frozen=True, slots=True)
class Receipt:
    duplicate: bool
    outcome: str  # applied | recorded | ignored | rejected (see migration 0013)
    detail: str | None
    payment_id: UUID | None = None
    code: str | None = None  # the refusing use case's error code, for a rejected provider event
    other_body: bool = False  # a duplicate whose body is not the first copy's (counted, migration 0044)


def _gateway_call(
    source: str, payload_sha256: str, request_id: str | None, client_ip: str | None
) -> Invocation:
    principal = Principal(f"webhook:{source}", Role.SERVICE)
    return Invocation(principal, f"webhooks.{source}", payload_sha256, request_id, client_ip)


async def duplicate_receipt(uow: InboxUnitOfWork, source: str, event_id: str, payload_sha256: str) -> Receipt:
    """What the first copy of an event came to. A copy with another body changes nothing either (the
    first copy's effect stands: the sender's retries must not race its corrections), but it is counted
    for platform_health and said in the answer."""
    other_body = await uow.payments.other_body(source, event_id, payload_sha256)
    entry = await uow.payments.inbox(source, event_id)
    assert entry is not None  # the conflicting row is committed by now
    return Receipt(True, entry.outcome, entry.detail, entry.payment_id, other_body=other_body)


async def receive_gateway_event(
    deps: PaymentDeps,
    source: str,
    event: GatewayEvent,
    payload_sha256: str,
    request_id: str | None = None,
    client_ip: str | None = None,
) -> Receipt:
    """A payment vendor's event: ``transfer.success`` activates the loan, ``charge.success`` allocates a
    repayment, ``transfer.failed``/``reversed`` and ``charge.failed`` fail the payment; never backwards."""
    call = _gateway_call(source, payload_sha256, request_id, client_ip)
    async with deps.inflight.hold(f"{source}:{event.event_id}"), deps.uow() as uow:
        if not await uow.payments.receive(source, event.event_id, event.event_type, payload_sha256):
            return await duplicate_receipt(uow, source, event.event_id, payload_sha256)
        outcome, detail, payment_id, concluded = await _gateway_effect(deps, uow, call, source, event)
        if not concluded:  # a final move concluded it in its own statement
            await uow.payments.conclude(source, event.event_id, outcome, detail, payment_id)
    return Receipt(False, outcome, detail, payment_id)


async def _gateway_effect(
    deps: PaymentDeps, uow: InboxUnitOfWork, call: Invocation, source: str, event: GatewayEvent
) -> tuple[str, str, UUID | None, bool]:
    """(outcome, detail, payment, whether the inbox row was concluded already)."""
    effect = effect_of(event.event_type)
    if effect is None:
        return "ignored", f"{event.event_type} changes no payment", None, False
    parsed = None if event.reference is None else parse_reference(event.reference)
    if parsed is None:
        return "ignored", "the reference is not one of this platform's payments", None, False
    kind, payment_id = parsed
    if kind is not effect.kind:
        return (
            "ignored",
            f"{event.event_type} concerns a {effect.kind.value}, not a {kind.value}",
            None,
            False,
        )
    try:
        result = await settle(
            deps,
            uow,
            call,
            payment_id,
            effect.target,
            f"{source} {event.event_type}",
            amount_minor=event.amount_minor,
            currency=event.currency,
            inbox=(source, event.event_id),
            report=Report(kind, source, event.paid_at),
        )
    except NoSuchPayment:  # found by the loan's lock, not read before it
        return "ignored", f"no payment {payment_id}", None, False
    return result.outcome, result.detail, payment_id, result.concluded
