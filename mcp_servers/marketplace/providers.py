"""Provider management tools (on the ``admin`` service): onboard, change, suspend, reactivate, rotate the
webhook secret, read and list credit providers."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_servers.params import PROVIDER_RENAMED, Cursor, Limit, ProviderHandle
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.marketplace import capital, providers
from tools.marketplace.models.capital import ProviderCapital
from tools.marketplace.models.providers import (
    OnboardedProvider,
    OnboardProvider,
    ProviderChanges,
    ProviderPage,
    ProviderStatus,
    ProviderType,
    ProviderView,
    RotatedSecret,
)
from tools.platform.models import CurrencyCode, FreeText
from tools.platform.principal import Role

__all__ = ["TOOLS"]

MANAGERS = frozenset({Role.OPERATOR, Role.ADMIN})
READERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE, Role.PROVIDER})
STAFF_READERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})


TOOLS = ToolSet()


@TOOLS.tool(roles=MANAGERS, title="Onboard a credit provider", read_only=False)
async def onboard_provider(provider: OnboardProvider) -> OnboardedProvider:
    """Add a lender to the marketplace, active at once, and return its webhook signing secret ONCE.

    Use when a bank, fintech, microfinance bank or P2P platform joins. A provider lends in one
    currency: min_amount, max_amount and capital_available are decimal strings in that currency
    (a lender in several currencies is onboarded once per currency). It is matched to open
    applications from its countries whose amount and term fit its limits, whose grade it accepts,
    whose score is at least min_score and whose debt-to-income is at most max_dti; rates and
    max_dti are fractions (0.24 = 24%). The commission plan defaults to 8.5% of the principal.
    The platform generates the webhook signing secret: it is in this result only and is never
    shown again (rotate_provider_secret issues a new one). Names are unique (conflict otherwise).
    """
    return await providers.onboard_provider(deps().marketplace, invocation(), provider)


@TOOLS.tool(
    roles=MANAGERS,
    title="Change a credit provider",
    read_only=False,
    idempotent=True,
    retired=PROVIDER_RENAMED,
)
async def update_provider(
    provider: ProviderHandle,
    changes: ProviderChanges,
    expected_version: Annotated[
        int | None,
        Field(
            ge=1,
            le=2**62,
            description="The provider's version as you read it: the change is refused (conflict) if it "
            "changed since. Send it with capital_available, which moves with every offer and repayment.",
        ),
    ] = None,
) -> ProviderView:
    """Change a provider's terms; fields left out keep their value, commission_plan is replaced whole.

    Use when a lender changes its limits, rates, capital, countries, grades or webhook URL. The
    result is validated as a whole (amounts in its currency, minimums below maximums). A new
    currency needs its amounts in the same call, and waits (conflict) while the lender has live
    bids, reserved capital or open loans in the old one. capital_available is the new total free to
    lend (the difference is booked as a deposit or a withdrawal): send expected_version with it, so
    that an offer accepted or a repayment settled since you read the provider is not overwritten.
    Status and the secret have their own tools. Returns the provider with a new version.
    """
    return await providers.update_provider(
        deps().marketplace, invocation(), provider, changes, expected_version
    )


@TOOLS.tool(
    roles=MANAGERS,
    title="Suspend a credit provider",
    read_only=False,
    destructive=True,
    retired=PROVIDER_RENAMED,
)
async def suspend_provider(
    provider: ProviderHandle,
    reason: Annotated[
        FreeText, Field(min_length=3, max_length=500, description="Why; kept with the provider.")
    ],
) -> ProviderView:
    """Suspend a provider: from now on it is matched to no application, until reactivated.

    Use for compliance holds, exhausted capital or failing integrations. Suspending a suspended
    provider is a conflict. Invitations it already has are left as they are.
    """
    return await providers.suspend_provider(deps().marketplace, invocation(), provider, reason)


@TOOLS.tool(roles=MANAGERS, title="Reactivate a credit provider", read_only=False, retired=PROVIDER_RENAMED)
async def reactivate_provider(provider: ProviderHandle) -> ProviderView:
    """Lift a suspension: the provider is matched again. Reactivating an active provider is a conflict."""
    return await providers.reactivate_provider(deps().marketplace, invocation(), provider)


@TOOLS.tool(
    roles=MANAGERS | {Role.PROVIDER},
    title="Rotate a provider's webhook secret",
    read_only=False,
    destructive=True,
    retired=PROVIDER_RENAMED,
)
async def rotate_provider_secret(provider: ProviderHandle) -> RotatedSecret:
    """Issue a new webhook signing secret, returned ONCE; the old one stops working at once.

    Use when the secret is lost or may have leaked. A provider may rotate its own secret only.
    """
    return await providers.rotate_provider_secret(deps().marketplace, invocation(), provider)


@TOOLS.tool(
    roles=READERS, title="Get a credit provider", read_only=True, idempotent=True, retired=PROVIDER_RENAMED
)
async def get_provider(provider: ProviderHandle) -> ProviderView:
    """Read one provider: its terms, limits, commission plan, webhook URL and status (never the secret).

    A provider's own principals can read only their provider; any other id answers not_found.
    """
    return await providers.get_provider(deps().marketplace, principal(), provider)


@TOOLS.tool(roles=READERS, title="Get a provider's capital", read_only=True, idempotent=True)
async def get_provider_capital(
    provider: Annotated[
        ProviderHandle | None,
        Field(default=None, description="The provider's id (UUID). Providers: leave out for your own."),
    ] = None,
) -> ProviderCapital:
    """A lender's capital now, from the ledger: available (free to lend), reserved (held for accepted
    offers until disbursed or released) and lent (principal its loans still owe), and their total.

    Use to see how much a lender can still offer (place_bid needs available capital for the amount)
    and how much is at work. A provider's own principals read only their provider (leave provider
    out); any other id answers not_found. Staff name the provider. Amounts are in the provider's one
    lending currency.
    """
    return await capital.get_provider_capital(deps().marketplace, principal(), provider)


@TOOLS.tool(roles=STAFF_READERS, title="List credit providers", read_only=True, idempotent=True)
async def list_providers(
    status: Annotated[
        list[ProviderStatus] | None,
        Field(default=None, max_length=len(ProviderStatus), description="Only these statuses."),
    ] = None,
    provider_type: Annotated[ProviderType | None, Field(description="Only this kind of lender.")] = None,
    currency: Annotated[CurrencyCode | None, Field(default=None, description="Lending currency.")] = None,
    country: Annotated[
        str | None, Field(default=None, pattern="^[A-Z]{2}$", description="Serves this country.")
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ProviderPage:
    """List providers newest first, a page at a time, optionally by status, type, currency or country.

    Never shows webhook secrets. Pass next_cursor back as cursor for the next page.
    """
    return await providers.list_providers(
        deps().marketplace,
        status,
        provider_type.value if provider_type else None,
        currency,
        country,
        limit,
        cursor,
    )
