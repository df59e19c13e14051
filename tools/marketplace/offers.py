"""Use cases of offers: compare the live bids of an application, and accept one.

Accepting is one transaction: the idempotency key is claimed, the application row is locked
(``SELECT ... FOR UPDATE``: concurrent acceptances queue here and every one after the first finds the
application offer_accepted), the bid is checked (on this application, active, still valid, its
provider active with the capital), it becomes accepted and every other active bid rejected (or
expired when its validity had passed), invited providers that never bid are counted as declining,
the round is closed, the provider's available capital is decremented (a CHECK >= 0 refuses an
over-reservation) and a reservation journal (Dr provider capital_reserved, Cr provider
capital_available) is posted, the application moves to offer_accepted (timeline, audit, outbox) with
the offer.accepted and bid.rejected / bid.expired events, and the key records the accepted bid. The
partial unique index on accepted bids is the backstop behind the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from tools.credit.access import can_view
from tools.credit.domain.applications import ApplicationRecord
from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.lifecycle import locked_application, not_found, transition
from tools.ledger.domain.ledger import JournalKind
from tools.ledger.ledger import post_journal
from tools.loans.domain.schedules import Installment
from tools.marketplace.bid_events import bid_event
from tools.marketplace.bidding import bid_view, require_active
from tools.marketplace.domain.bids import BidRecord, BidStatus
from tools.marketplace.domain.offers import OfferCandidate, OfferFigures, offer_figures, rank_offers
from tools.marketplace.domain.providers import ProviderStatus
from tools.marketplace.models.bids import (
    AcceptedOffer,
    BidOutcome,
    ExcludedBid,
    OfferComparison,
    OfferInstallment,
    OfferView,
)
from tools.marketplace.ports import BiddingUnitOfWork, MarketplaceDeps
from tools.marketplace.reservations import capital_journal
from tools.platform.errors import Conflict, NotFound
from tools.platform.idempotency import claim_or_replay, request_sha256
from tools.platform.models import Money
from tools.platform.ports import AuditRecord, IdempotencyClaim, Invocation
from tools.platform.principal import Principal

__all__ = ["accept_offer", "compare_offers", "offer_to_accept"]

OPERATION = "accept_offer"


def _schedule(lines: Sequence[Installment], currency: str) -> list[OfferInstallment]:
    return [
        OfferInstallment(
            number=i.number,
            due_date=i.due_date,
            principal=Money.from_minor(i.principal, currency),
            interest=Money.from_minor(i.interest, currency),
            total=Money.from_minor(i.total, currency),
            balance_after=Money.from_minor(i.balance_after, currency),
        )
        for i in lines
    ]


async def _open_application(deps: MarketplaceDeps, principal: Principal, handle: str) -> ApplicationRecord:
    app = await deps.applications.get(handle)
    if app is None or not can_view(principal, app):
        raise not_found(handle)
    if app.status != ApplicationStatus.OPEN_FOR_BIDS:
        raise Conflict(
            f"{app.reference} is {app.status}; offers are compared while it is open_for_bids "
            "(list_bids shows every bid, accepted or not)"
        )
    assert app.requested_amount_minor is not None and app.term_months is not None  # past draft
    return app


def _figures(b: BidRecord, now: datetime) -> tuple[OfferFigures | None, str | None]:
    """The figures of a live offer, or why ``b`` is not one."""
    if not b.live_at(now):
        return None, f"it expired at {b.valid_until.isoformat()}"
    if b.provider_status != ProviderStatus.ACTIVE:
        return None, "its provider is suspended"
    try:
        return offer_figures(b.terms(), now.date()), None
    except ValueError as exc:  # placed before a schedule rule changed: shown why, not an error
        return None, f"its terms make no repayment schedule: {exc}"


async def compare_offers(deps: MarketplaceDeps, principal: Principal, handle: str) -> OfferComparison:
    app = await _open_application(deps, principal, handle)
    assert app.requested_amount_minor is not None and app.term_months is not None  # past draft
    now = deps.clock.now()
    candidates: list[OfferCandidate[BidRecord]] = []
    excluded: list[ExcludedBid] = []
    for b in await deps.bids.active(app.id):
        figures, reason = _figures(b, now)
        if figures is None:
            excluded.append(
                ExcludedBid(
                    bid_id=b.id, provider_id=b.provider_id, provider_name=b.provider_name, reason=str(reason)
                )
            )
            continue
        candidates.append(OfferCandidate(b, b.provider_name, figures, b.created_at))
    ranked, explanation = rank_offers(candidates)
    offers = []
    for r in ranked:
        b, f = r.candidate.key, r.candidate.figures
        offers.append(
            OfferView(
                rank=r.rank,
                bid=bid_view(b, now),
                **OfferView.of(f),
                why=r.why,
                schedule=_schedule(f.schedule, b.currency),
            )
        )
    return OfferComparison(
        application_id=app.id,
        reference=app.reference,
        requested_amount=Money.from_minor(app.requested_amount_minor, app.currency),
        term_months=app.term_months,
        compared_at=now,
        offers=offers,
        best_bid_id=offers[0].bid.id if offers else None,
        explanation=explanation,
        excluded=excluded,
    )


async def offer_to_accept(
    deps: MarketplaceDeps, principal: Principal, handle: str, bid: str | None
) -> tuple[ApplicationRecord, BidRecord | None, OfferFigures | None]:
    """The application and, when the bid whose id is written ``bid`` is among its live offers, that
    bid and the figures compare_offers shows for it (both None otherwise), refused as compare_offers
    refuses: what a person confirming an acceptance reads, with no other offer's figures built."""
    app = await _open_application(deps, principal, handle)
    for b in await deps.bids.active(app.id):
        if str(b.id) == bid:
            figures, _ = _figures(b, deps.clock.now())
            return app, (b if figures is not None else None), figures
    return app, None, None


async def _accepted(deps: MarketplaceDeps, bid_id: UUID) -> AcceptedOffer:
    """The outcome of an acceptance as committed, read back for a replay."""
    bid = await deps.bids.get(bid_id)
    app = None if bid is None else await deps.applications.get(str(bid.application_id))
    journal_id = None if bid is None else await deps.bids.reservation_journal(bid.id)
    if bid is None or app is None or journal_id is None:  # pragma: no cover - committed together
        raise NotFound("the acceptance recorded for this idempotency_key no longer exists")
    others = await deps.bids.settled(app.id, bid.id)
    return _outcome(app, bid, journal_id, others, deps.clock.now(), replayed=True)


def _outcome(
    app: ApplicationRecord,
    bid: BidRecord,
    journal_id: UUID,
    others: Sequence[BidRecord],
    now: datetime,
    *,
    replayed: bool,
) -> AcceptedOffer:
    return AcceptedOffer(
        application_id=app.id,
        reference=app.reference,
        application_status=app.status,
        accepted=bid_view(bid, now),
        reservation_journal_id=journal_id,
        capital_reserved=Money.from_minor(bid.amount_minor, bid.currency),
        other_bids=[
            BidOutcome(
                bid_id=o.id,
                provider_id=o.provider_id,
                provider_name=o.provider_name,
                status=BidStatus(o.status),
            )
            for o in others
        ],
        replayed=replayed,
    )


def _refuse_closed(app_status: str, reference: str) -> Conflict:
    if app_status == ApplicationStatus.OFFER_ACCEPTED:
        return Conflict(
            f"an offer on {reference} was already accepted; it accepts one offer only (list_bids shows it)"
        )
    return Conflict(f"{reference} is {app_status}; an offer is accepted only while it is open_for_bids")


async def accept_offer(
    deps: MarketplaceDeps, call: Invocation, handle: str, bid_id: UUID, idempotency_key: str
) -> AcceptedOffer:
    principal = call.principal
    # The application's id, however it was named (id or reference): a retry may name it either way.
    # An id is read nowhere before the transaction, whose lock checks the caller may see it (a refusal
    # there rolls the claimed key back); a reference is looked up first.
    try:
        application_id = str(UUID(handle.strip()))
    except ValueError:
        found = await deps.applications.get(handle)
        if found is None or not can_view(principal, found):
            raise not_found(handle) from None
        application_id = str(found.id)
    arguments = {"application_id": application_id, "bid_id": str(bid_id)}
    claim = IdempotencyClaim(principal.subject, OPERATION, idempotency_key, request_sha256(arguments))
    async with deps.uow() as uow:
        earlier = await claim_or_replay(uow, claim)
        if earlier is None:
            # What the transaction wrote is the outcome: nothing is read back after COMMIT.
            done = await _accept_locked(deps, uow, call, claim, application_id, bid_id)
    if earlier is not None:  # replayed after the transaction, not holding its connection
        return await _accepted(deps, UUID(earlier))
    return done


async def _accept_locked(
    deps: MarketplaceDeps,
    uow: BiddingUnitOfWork,
    call: Invocation,
    claim: IdempotencyClaim,
    handle: str,
    bid_id: UUID,
) -> AcceptedOffer:
    principal, now = call.principal, deps.clock.now()
    app = await locked_application(uow, principal, handle)
    bid = await uow.bids.lock(bid_id)
    if bid is None or bid.application_id != app.id:
        raise NotFound(f"no bid {bid_id} on {app.reference}; list_bids shows the bids on it")
    if app.status != ApplicationStatus.OPEN_FOR_BIDS:
        raise _refuse_closed(app.status, app.reference)
    if now > (ends := app.status_changed_at + deps.bidding_window):
        # Past its window the application is expired, whenever the expiry job gets to it.
        raise Conflict(
            f"{app.reference} took no offer within its bidding window, which ended at {ends.isoformat()}; "
            "it expires (ask the borrower to apply again)"
        )
    require_active(bid, app.reference)
    if not bid.live_at(now):
        raise Conflict(
            f"bid {bid.id} expired at {bid.valid_until.isoformat()}; ask {bid.provider_name} to revise it, "
            "or accept another offer"
        )
    accepted = await uow.bids.accept(bid.id, now)
    others = await uow.bids.settle_others(app.id, bid.id, now)
    window, by = deps.bidding_window, principal.subject
    await uow.bids.end_round(app.id, app.status_changed_at, window, by, "offer accepted", now)
    memo = f"offer accepted on {app.reference}: {bid.provider_name}, bid version {bid.version}"
    reservation = capital_journal(JournalKind.RESERVATION, bid, memo)
    journal_id = await post_journal(uow, call, reservation)  # its balance rows are locked at COMMIT
    events = [
        bid_event("offer.accepted", accepted, app.reference, reservation_journal_id=str(journal_id)),
        *(bid_event(f"bid.{o.status}", o, app.reference, accepted_bid_id=str(accepted.id)) for o in others),
    ]
    reason = f"offer accepted: {bid.provider_name}, bid {accepted.id} (version {accepted.version})"
    moved = await transition(uow, call, app, ApplicationStatus.OFFER_ACCEPTED, reason, events)
    await uow.record(AuditRecord(call, "bid", str(accepted.id)), completes=claim)  # the key's outcome
    # The lender's row last (tools.platform.locking): every offer on a lender waits for its row, so it
    # is held only from here to COMMIT; a refusal rolls back everything above.
    try:
        # One statement reads the lenders invited that never bid and, when there are none, locks the
        # lender's row, checks it is active and has the capital, and reserves it.
        waiting = await uow.bids.reserve_or_waiting(app.id, bid.provider_id, bid.amount_minor)
        if waiting:  # their invitations expire (tallied apart, no row of theirs locked), then the reservation
            await uow.bids.expire_invitations(app.id)
            await uow.bids.reserve_capital(bid.provider_id, bid.amount_minor)
    except Conflict as refused:
        if "suspended" in refused.message:
            raise Conflict(f"{bid.provider_name} is suspended; its offer cannot be accepted now") from None
        raise Conflict(
            f"{bid.provider_name} no longer has the capital for this offer; accept another one"
        ) from None
    return _outcome(moved, accepted, journal_id, others, now, replayed=False)
