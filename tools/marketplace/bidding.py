"""Use cases of bidding: invited providers place, revise and withdraw bids; everyone concerned lists
them; staff close bidding early.

Every write locks the application row first (``SELECT ... FOR UPDATE``), so the bids of one
application change one transaction at a time and never race an acceptance. A provider is its own
principal (role provider with its provider_id) and sees nothing of an application it was not invited
to: that is reported exactly like a missing application. Bidding is open while the application is
open_for_bids and its round has not closed: the deadline is when it opened plus the bidding window
(``CAAS_BIDDING_WINDOW_HOURS``), stored the first time bidding is touched, or the moment
close_bidding ended it. A provider may withdraw a bid at any time before one is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from tools.credit.access import can_view
from tools.credit.domain.applications import ApplicationRecord
from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.lifecycle import locked_application, not_found
from tools.loans.domain.schedules import Frequency, Method
from tools.marketplace.bid_events import bid_event, placed_fields
from tools.marketplace.domain.bids import (
    MAX_VERSIONS,
    BiddingRound,
    BidRecord,
    BidStatus,
    BidTerms,
    NewBid,
    installment_count,
    unmet_terms,
)
from tools.marketplace.domain.offers import offer_figures
from tools.marketplace.domain.providers import ProviderRecord, ProviderStatus
from tools.marketplace.models.bids import BidChanges, BiddingRoundView, BidInput, BidPage, BidView
from tools.marketplace.ports import BiddingUnitOfWork, BidQuery, MarketplaceDeps
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.domain.money import from_minor
from tools.platform.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from tools.platform.models import Money, describe_validation_error
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

__all__ = [
    "bid_event",
    "bid_view",
    "close_bidding",
    "invited_application",
    "list_bids",
    "own_provider",
    "place_bid",
    "place_bid_in",
    "revise_bid",
    "withdraw_bid",
]


def bid_view(b: BidRecord, now: datetime, application_open: bool = True) -> BidView:
    """``application_open``: whether the application still takes an acceptance (open_for_bids)."""
    status = b.status_at(now)
    return BidView(
        id=b.id,
        application_id=b.application_id,
        provider_id=b.provider_id,
        provider_name=b.provider_name,
        version=b.version,
        status=status,
        live=status is BidStatus.ACTIVE and application_open,
        amount=Money.from_minor(b.amount_minor, b.currency),
        annual_rate=b.annual_rate,
        term_months=b.term_months,
        installments=installment_count(b.term_months, b.repayment_frequency),
        origination_fee=Money.from_minor(b.origination_fee_minor, b.currency),
        repayment_frequency=Frequency(b.repayment_frequency),
        schedule_method=Method(b.schedule_method),
        valid_until=b.valid_until,
        conditions=b.conditions,
        created_by=b.created_by,
        created_at=b.created_at,
        accepted_at=b.accepted_at,
    )


def own_provider(principal: Principal) -> UUID:
    if principal.provider_id is None:
        raise PermissionDenied("your token carries no provider_id; ask the operator for a provider token")
    try:
        return UUID(principal.provider_id)
    except ValueError:
        raise PermissionDenied("your token's provider_id is not a provider id (a UUID)") from None


def _not_invited(handle: str) -> NotFound:
    return NotFound(
        f"no application '{handle}' that your provider was invited to bid on; list_invitations shows yours"
    )


def bid_not_found(bid_id: UUID) -> NotFound:
    return NotFound(f"no bid {bid_id} that you can see; list_bids shows the bids of an application")


async def invited_application(
    uow: BiddingUnitOfWork, provider_id: UUID, handle: str
) -> tuple[ApplicationRecord, str]:
    """The application and the provider's invitation, both locked; not invited reads as missing."""
    app = await uow.applications.lock(handle)
    invitation = None if app is None else await uow.bids.invitation_status(app.id, provider_id)
    if app is None or invitation is None:
        raise _not_invited(handle)
    return app, invitation


async def _require_bidding_open(
    deps: MarketplaceDeps, uow: BiddingUnitOfWork, app: ApplicationRecord, invitation: str, now: datetime
) -> None:
    _check_open(app)
    rnd = await uow.bids.round(app.id, app.status_changed_at, deps.bidding_window)
    _check_round(app, invitation, rnd, now)


def _check_open(app: ApplicationRecord) -> None:
    if app.status != ApplicationStatus.OPEN_FOR_BIDS:
        raise Conflict(
            f"{app.reference} is {app.status}; bids are placed and revised only while it is open_for_bids"
        )


def _check_round(app: ApplicationRecord, invitation: str, rnd: BiddingRound, now: datetime) -> None:
    if not rnd.open_at(now):
        how = f"was closed by {rnd.closed_by}" if rnd.closed_at is not None else "reached its deadline"
        raise Conflict(
            f"bidding on {app.reference} {how} at {rnd.closes_at.isoformat()}; no bid is placed or revised "
            "after that (a standing bid may still be withdrawn)"
        )
    if invitation not in ("invited", "bid_submitted"):
        raise Conflict(f"your invitation to {app.reference} is {invitation}; you can no longer bid on it")


async def _active_provider(uow: BiddingUnitOfWork, provider_id: UUID) -> ProviderRecord:
    return _require_active_provider(await uow.providers.share(provider_id))


def _require_active_provider(provider: ProviderRecord | None) -> ProviderRecord:
    if provider is None:
        raise PermissionDenied("your token's provider does not exist; ask the operator for a provider token")
    if provider.status != ProviderStatus.ACTIVE:
        raise Conflict(
            f"your provider is suspended ({provider.suspended_reason}); it cannot bid until reactivated"
        )
    return provider


def _check_terms(
    terms: BidTerms, provider: ProviderRecord, app: ApplicationRecord, now: datetime, again: bool = False
) -> None:
    """``again``: these terms were checked at ``now`` before, so their schedule is not built again."""
    assert app.requested_amount_minor is not None  # past draft
    problems = unmet_terms(terms, provider, app.requested_amount_minor, app.currency, now)
    if not problems and not again:
        try:
            offer_figures(terms, now.date())
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidArgument(f"the bid does not fit: {'; '.join(problems)}")
    if provider.capital_available_minor < terms.amount_minor:
        available = from_minor(provider.capital_available_minor, provider.currency)
        raise Conflict(
            f"your provider has {available} {provider.currency} of capital available, less than the amount "
            "offered; add capital (update_provider) or offer less"
        )


async def place_bid(deps: MarketplaceDeps, call: Invocation, handle: str, bid: BidInput) -> BidView:
    async with deps.uow() as uow:
        return await place_bid_in(deps, uow, call, handle, bid)


async def place_bid_in(
    deps: MarketplaceDeps, uow: BiddingUnitOfWork, call: Invocation, handle: str, bid: BidInput
) -> BidView:
    """``place_bid`` in the caller's transaction (a provider's webhook, beside its inbox row)."""
    provider_id = own_provider(call.principal)
    terms, now = bid.to_terms(), deps.clock.now()
    app = await uow.applications.lock(handle)
    if app is None:
        raise _not_invited(handle)
    # Everything else placing a bid reads, in one round trip (the checks below keep their order).
    is_open, opened = app.status == ApplicationStatus.OPEN_FOR_BIDS, app.status_changed_at
    state = await uow.bids.bidding_state(app.id, provider_id, is_open, opened, deps.bidding_window)
    if state.invitation is None:
        raise _not_invited(handle)
    _check_open(app)
    assert state.round is not None  # made or read when open and invited
    _check_round(app, state.invitation, state.round, now)
    # Checked without a lock first, so a refusal takes no lender lock; checked again under it below.
    _check_terms(terms, _require_active_provider(state.provider), app, now)
    if (current := state.standing) is not None:
        raise Conflict(
            f"your provider already has an active bid on {app.reference} (bid {current.id}, version "
            f"{current.version}); change it with revise_bid or withdraw it first"
        )
    if (version := state.next_version) > MAX_VERSIONS:
        raise Conflict(f"your provider has bid {MAX_VERSIONS} times on {app.reference}; that is the limit")
    # The bid, its audit row and event, the invitation marked and the lender's row locked, in one
    # statement: the lender's row last (tools.platform.locking), as every bid and offer of this lender
    # waits for it, held from there to COMMIT. Its status and capital may have moved since the read
    # above; a refusal now rolls everything back. The schedule and its APR depend on the terms and the
    # day alone: the first check built them.
    new = NewBid(app.id, provider_id, version, terms)
    placed, lender = await uow.bids.place(new, call, placed_fields(new, app.reference))
    locked = _require_active_provider(lender)
    _check_terms(terms, locked, app, now, again=True)
    return bid_view(placed, now)


def _as_fields(b: BidRecord) -> dict[str, Any]:
    return {
        "currency": b.currency,
        "amount": str(from_minor(b.amount_minor, b.currency)),
        "annual_rate": str(b.annual_rate),
        "term_months": b.term_months,
        "origination_fee": str(from_minor(b.origination_fee_minor, b.currency)),
        "repayment_frequency": b.repayment_frequency,
        "schedule_method": b.schedule_method,
        "valid_until": b.valid_until.isoformat(),
        "conditions": b.conditions,
    }


def require_active(b: BidRecord, reference: str) -> None:
    """Conflict unless ``b`` is still the provider's standing bid (expired ones may be revised)."""
    if b.status == BidStatus.ACTIVE:
        return
    hint = {
        BidStatus.SUPERSEDED: "a later version replaced it; list_bids shows the current one",
        BidStatus.WITHDRAWN: "it was withdrawn",
        BidStatus.ACCEPTED: "it was accepted",
        BidStatus.REJECTED: "another offer was accepted",
        BidStatus.EXPIRED: "it lapsed when another offer was accepted",
    }[BidStatus(b.status)]
    raise Conflict(f"bid {b.id} on {reference} is {b.status}: {hint}")


async def _own_bid(deps: MarketplaceDeps, principal: Principal, bid_id: UUID) -> BidRecord:
    provider_id = own_provider(principal)
    seen = await deps.bids.get(bid_id)
    if seen is None or seen.provider_id != provider_id:
        raise bid_not_found(bid_id)
    return seen


async def revise_bid(deps: MarketplaceDeps, call: Invocation, bid_id: UUID, changes: BidChanges) -> BidView:
    """A new version with the changes applied to the current one, which becomes superseded."""
    seen, now = await _own_bid(deps, call.principal, bid_id), deps.clock.now()
    async with deps.uow() as uow:
        app, invitation = await invited_application(uow, seen.provider_id, str(seen.application_id))
        current = await uow.bids.lock(bid_id)
        assert current is not None
        require_active(current, app.reference)
        await _require_bidding_open(deps, uow, app, invitation, now)
        provider = await _active_provider(uow, seen.provider_id)
        try:
            revised = BidInput.model_validate(
                _as_fields(current) | changes.model_dump(exclude_unset=True, mode="json")
            )
        except ValidationError as exc:
            raise InvalidArgument(
                f"the revised bid would be invalid: {describe_validation_error(exc)}"
            ) from None
        terms = revised.to_terms()
        if terms == current.terms():
            raise InvalidArgument("the revision changes nothing; give at least one new value")
        _check_terms(terms, provider, app, now)
        version = await uow.bids.next_version(app.id, seen.provider_id)
        if version > MAX_VERSIONS:
            raise Conflict(f"this bid was revised {MAX_VERSIONS - 1} times; that is the limit")
        superseded = await uow.bids.set_status(current.id, BidStatus.SUPERSEDED.value)
        new = await uow.bids.insert(app.id, seen.provider_id, version, terms, call.principal.subject)
        await uow.record(
            AuditRecord(call, "bid", str(new.id)),
            [bid_event("bid.revised", new, app.reference, supersedes_bid_id=str(superseded.id))],
        )
    return bid_view(new, now)


async def withdraw_bid(deps: MarketplaceDeps, call: Invocation, bid_id: UUID, reason: str) -> BidView:
    seen, now = await _own_bid(deps, call.principal, bid_id), deps.clock.now()
    async with deps.uow() as uow:
        app = await uow.applications.lock(str(seen.application_id))
        current = await uow.bids.lock(bid_id)
        assert app is not None and current is not None
        require_active(current, app.reference)
        withdrawn = await uow.bids.set_status(current.id, BidStatus.WITHDRAWN.value)
        await uow.record(
            AuditRecord(call, "bid", str(withdrawn.id)),
            [bid_event("bid.withdrawn", withdrawn, app.reference, reason=reason)],
        )
    return bid_view(withdrawn, now)


async def list_bids(
    deps: MarketplaceDeps,
    principal: Principal,
    handle: str,
    provider_id: UUID | None,
    statuses: Sequence[BidStatus] | None,
    limit: int,
    cursor: str | None,
) -> BidPage:
    """A provider lists its own bids on an application it was invited to; the borrower, the agent who
    filed it and staff list every provider's."""
    app = await deps.applications.get(handle)
    if principal.role is Role.PROVIDER:
        own = own_provider(principal)
        if provider_id is not None and provider_id != own:
            raise PermissionDenied("providers list only their own bids; leave provider out")
        if app is None or not await deps.bids.invited(app.id, own):
            raise _not_invited(handle)
        provider_id = own
    elif app is None or not can_view(principal, app):
        raise not_found(handle)
    now = deps.clock.now()
    scope = keyset("bids", application=app.id, provider=provider_id, statuses=statuses)
    rows = await deps.bids.listing(
        BidQuery(
            application_id=app.id,
            provider_id=provider_id,
            statuses=[s.value for s in statuses] if statuses else None,
            now=now,
            after=decode_cursor(scope, cursor) if cursor else None,
            limit=limit + 1,
        )
    )
    page = rows[:limit]
    next_cursor = encode_cursor(scope, page[-1].created_at, page[-1].id) if len(rows) > limit else None
    is_open = app.status == ApplicationStatus.OPEN_FOR_BIDS
    return BidPage(items=[bid_view(b, now, is_open) for b in page], next_cursor=next_cursor)


async def close_bidding(
    deps: MarketplaceDeps, call: Invocation, handle: str, reason: str
) -> BiddingRoundView:
    """End bidding now: no bid is placed or revised afterwards; invited providers that had not bid
    are counted as declining. Standing bids stay acceptable."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        app = await locked_application(uow, call.principal, handle)
        if app.status != ApplicationStatus.OPEN_FOR_BIDS:
            raise Conflict(
                f"{app.reference} is {app.status}; only bidding on an open_for_bids application closes"
            )
        rnd = await uow.bids.round(app.id, app.status_changed_at, deps.bidding_window)
        if rnd.closed_at is not None:
            raise Conflict(
                f"bidding on {app.reference} was already closed by {rnd.closed_by} at "
                f"{rnd.closed_at.isoformat()}"
            )
        rnd = await uow.bids.close_round(app.id, call.principal.subject, reason, now)
        expired = await uow.bids.expire_invitations(app.id)
        event = OutboxEvent(
            "application",
            str(app.id),
            "bidding.closed",
            {
                "application_id": str(app.id),
                "reference": app.reference,
                "closes_at": rnd.closes_at.isoformat(),
                "reason": reason,
                "invitations_expired": expired,
            },
        )
        # Each invited lender is told on its own webhook (one event per provider, keyed to it).
        told = [
            OutboxEvent(
                "provider",
                str(p),
                "provider.bidding_closed",
                {**event.payload, "provider_id": str(p)},
            )
            for p in sorted(await uow.bids.invited_providers(app.id))
        ]
        await uow.record(AuditRecord(call, "application", str(app.id)), [event, *told])
    return BiddingRoundView(
        application_id=app.id,
        reference=app.reference,
        opened_at=rnd.opened_at,
        closes_at=rnd.closes_at,
        open=rnd.open_at(now),
        closed_at=rnd.closed_at,
        closed_by=rnd.closed_by,
        close_reason=rnd.close_reason,
        invitations_expired=expired,
    )
