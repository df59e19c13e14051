"""Use case of a bid preview: what compare_offers would show for the terms a lender is drafting, and
whether place_bid would take them now. Read-only: nothing is stored, no lock is taken.

The figures come from ``tools.marketplace.domain.offers.offer_figures``, the very function compare_offers
ranks bids with, as of today: a preview and the comparison a borrower sees agree to the minor unit. The
checks are place_bid's (``unmet_terms`` against the application and the provider's own terms, its capital,
the application open for bids, its invitation still answerable), reported as ``problems`` rather than
refused, so a lender sees the cost of an offer while it is still fixing it. Terms that make no repayment
schedule have no figures: that alone is an invalid_argument, as place_bid would refuse it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from tools.credit.domain.applications import ApplicationRecord
from tools.credit.domain.lifecycle import ApplicationStatus
from tools.marketplace.bidding import own_provider
from tools.marketplace.domain.bids import MAX_VALIDITY, BidTerms, unmet_terms
from tools.marketplace.domain.offers import offer_figures
from tools.marketplace.domain.providers import InvitationStatus, ProviderRecord, ProviderStatus
from tools.marketplace.models.preview import BidPreview, BidPreviewInput
from tools.marketplace.ports import InvitationQuery, MarketplaceDeps
from tools.platform.domain.money import from_minor, to_minor
from tools.platform.errors import InvalidArgument, NotFound
from tools.platform.principal import Principal

__all__ = ["preview_bid"]

_ANSWERABLE = (InvitationStatus.INVITED, InvitationStatus.BID_SUBMITTED)


async def _invited(deps: MarketplaceDeps, provider_id: UUID, handle: str) -> tuple[ApplicationRecord, str]:
    """The application and the provider's invitation status; not invited reads as not found (place_bid's
    answer: no hint about other applications)."""
    app = await deps.applications.get(handle)
    query = None if app is None else InvitationQuery(provider_id, app.id, None, None, 1)
    found = [] if query is None else await deps.providers.invitations(query)
    if app is None or not found:
        raise NotFound(
            f"no application '{handle}' that your provider was invited to bid on; list_invitations "
            "shows yours"
        )
    return app, found[0].status


def _problems(
    app: ApplicationRecord, invitation: str, provider: ProviderRecord, terms: BidTerms, now: datetime
) -> list[str]:
    """Every rule place_bid would refuse ``terms`` for now, as readable sentences."""
    problems: list[str] = []
    if app.status != ApplicationStatus.OPEN_FOR_BIDS:
        problems.append(f"{app.reference} is {app.status}; bids are placed only while it is open_for_bids")
    if invitation not in _ANSWERABLE:
        problems.append(f"your invitation to {app.reference} is {invitation}; you can no longer bid on it")
    if provider.status != ProviderStatus.ACTIVE:
        problems.append(f"your provider is suspended ({provider.suspended_reason}); it cannot bid")
    assert app.requested_amount_minor is not None  # invited, so past draft
    problems += unmet_terms(terms, provider, app.requested_amount_minor, app.currency, now)
    if provider.capital_available_minor < terms.amount_minor and terms.currency == provider.currency:
        available = from_minor(provider.capital_available_minor, provider.currency)
        problems.append(
            f"capital: your provider has {available} {provider.currency} available, less than offered"
        )
    return problems


async def preview_bid(
    deps: MarketplaceDeps, principal: Principal, handle: str, draft: BidPreviewInput
) -> BidPreview:
    provider_id, now = own_provider(principal), deps.clock.now()
    app, invitation = await _invited(deps, provider_id, handle)
    terms = BidTerms(
        amount_minor=to_minor(draft.amount, draft.currency),
        currency=draft.currency,
        annual_rate=draft.annual_rate,
        term_months=draft.term_months,
        origination_fee_minor=to_minor(draft.origination_fee, draft.currency),
        repayment_frequency=draft.repayment_frequency,
        schedule_method=draft.schedule_method,
        # Left out, the validity is not what is previewed: a moment place_bid accepts.
        valid_until=draft.valid_until or now + MAX_VALIDITY,
        conditions=None,
    )
    try:
        f = offer_figures(terms, now.date())  # compare_offers' own figures
    except ValueError as exc:
        raise InvalidArgument(f"these terms make no repayment schedule: {exc}") from None
    provider = await deps.providers.get(provider_id)
    if provider is None:
        raise NotFound("your token's provider does not exist; ask the operator for a provider token")
    problems = _problems(app, invitation, provider, terms, now)
    return BidPreview(
        application_id=app.id,
        reference=app.reference,
        as_of=now.date(),
        **BidPreview.of(f),
        fits=not problems,
        problems=problems,
    )
