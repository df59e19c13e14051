"""Use case of a provider's capital: available, reserved and lent, as the ledger books them.

Available and reserved are the provider's own ``capital_available`` and ``capital_reserved`` accounts; lent
is the sum of the ``principal_receivable`` accounts of its loans (disbursement moves principal from
reserved to the loan, repayments of principal move it back to available through settlement). A provider
reads its own; staff read any (``can_see_provider``, like get_provider).
"""

from __future__ import annotations

from tools.marketplace.bidding import own_provider
from tools.marketplace.models.capital import ProviderCapital
from tools.marketplace.ports import MarketplaceDeps
from tools.marketplace.providers import can_see_provider, parse_provider_id, provider_not_found
from tools.platform.errors import InvalidArgument
from tools.platform.models import Money
from tools.platform.principal import Principal, Role

__all__ = ["get_provider_capital"]


async def get_provider_capital(
    deps: MarketplaceDeps, principal: Principal, handle: str | None
) -> ProviderCapital:
    """``handle`` None: the calling provider's own (staff must name one)."""
    if handle is None:
        if principal.role is not Role.PROVIDER:
            raise InvalidArgument("name the provider whose capital to read (its id)")
        handle = str(own_provider(principal))
    provider_id = parse_provider_id(handle)
    provider = await deps.providers.get(provider_id) if can_see_provider(principal, provider_id) else None
    if provider is None:
        raise provider_not_found(handle)
    cur = provider.currency
    figures = await deps.providers.capital(provider_id, cur)
    total = figures.available_minor + figures.reserved_minor + figures.lent_minor
    return ProviderCapital(
        provider_id=provider_id,
        currency=cur,
        available=Money.from_minor(figures.available_minor, cur),
        reserved=Money.from_minor(figures.reserved_minor, cur),
        lent=Money.from_minor(figures.lent_minor, cur),
        total=Money.from_minor(total, cur),
        loans_outstanding=figures.loans_outstanding,
        as_of=deps.clock.now(),
    )
