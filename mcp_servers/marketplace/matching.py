"""Matching tools (on the ``providers`` server): which lenders may lend on an open application,
in which order, and their invitations to bid. Amounts are decimal strings with an ISO 4217 currency;
rates are fractions (0.24 = 24%).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field

from mcp_servers.apps import INVITATIONS_APP
from mcp_servers.params import PROVIDER_RENAMED, ApplicationHandle, Cursor, Limit, renamed
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.marketplace import matching
from tools.marketplace.models.matching import InvitationPage, InvitationStatus, MatchReport
from tools.platform.models import Identifier
from tools.platform.principal import Role

__all__ = ["TOOLS"]


MATCHERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})
INVITATION_READERS = frozenset({Role.PROVIDER, Role.OPERATOR, Role.ADMIN, Role.SERVICE})


TOOLS = ToolSet()


EXPLAIN_RENAMED = renamed("explain_provider_ids", "explain_providers", "the providers' ids")
ExplainIds = Annotated[
    list[UUID] | None,
    Field(
        default=None,
        max_length=20,
        description="Providers to explain: why each is in or out.",
        examples=[["9b2f8c1e-4d3a-4f6b-8a7e-2c1d0e9f8a7b"]],
    ),
]
RankLimit = Annotated[int, Field(ge=1, le=50, description="How many of the best to rank (and invite).")]


@TOOLS.tool(
    roles=MATCHERS,
    title="Match providers to an application",
    read_only=True,
    idempotent=True,
    retired={"invite": "call invite_providers to invite the ranked providers", **EXPLAIN_RENAMED},
)
async def match_providers(
    application: ApplicationHandle, explain_providers: ExplainIds = None, limit: RankLimit = 10
) -> MatchReport:
    """Find the lenders that may lend on an open application, best fit first; invites nobody.

    A provider is eligible when it is active and meets every criterion against the application and
    its latest risk assessment: same currency, serves the applicant's country, amount within its
    min/max, term within its min/max, grade accepted, score >= its min_score, debt-to-income <= its
    max_dti, available capital >= the amount. Eligible providers are ranked by fit score 0-100 =
    100 * (0.5 rate + 0.3 capital + 0.2 approval): rate = where the provider's mid annual rate falls
    in the assessment's suggested band (1 at or below its minimum, 0 at or above its maximum);
    capital = (capital - amount) / (19 * amount) capped to 0-1; approval = (approved + 5) /
    (decided + 10), its historical approval rate smoothed towards 50%. Ties go to the lower id.

    explain_providers lists, for each provider asked about, every criterion it fails with the
    provider's requirement and the application's value. To invite the ranked providers, call
    invite_providers. The application must be open_for_bids (conflict otherwise).
    """
    return await matching.match_providers(
        deps().marketplace, invocation(), application, explain_providers or (), limit
    )


@TOOLS.tool(
    roles=MATCHERS, title="Invite providers to bid", read_only=False, idempotent=True, retired=EXPLAIN_RENAMED
)
async def invite_providers(
    application: ApplicationHandle, explain_providers: ExplainIds = None, limit: RankLimit = 10
) -> MatchReport:
    """Invite the best-fitting lenders to bid on an open application, ranked as match_providers ranks.

    Each ranked provider gets an invitation and a provider.invited event (delivered to it as a
    signed webhook); running it again, or concurrently, invites nobody twice. Returns the ranking
    with invitations_created. The application must be open_for_bids (conflict otherwise).
    """
    return await matching.invite_providers(
        deps().marketplace, invocation(), application, explain_providers or (), limit
    )


@TOOLS.tool(
    roles=INVITATION_READERS,
    title="List invitations to bid",
    read_only=True,
    idempotent=True,
    retired=PROVIDER_RENAMED,
    app=INVITATIONS_APP,
)
async def list_invitations(
    provider: Annotated[
        UUID | None, Field(default=None, description="Staff: one provider's. Providers: leave out.")
    ] = None,
    application: Annotated[
        Identifier | None,
        Field(default=None, max_length=64, description="Only this application's (id or reference)."),
    ] = None,
    status: Annotated[
        list[InvitationStatus] | None,
        Field(default=None, max_length=len(InvitationStatus), description="Only these statuses."),
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> InvitationPage:
    """Invitations to bid, newest first, with the loan request, grade, score and DTI (no personal data).

    A provider sees only its own invitations; operators, admins and services see all, optionally
    for one provider or one application. Pass next_cursor back as cursor for the next page.
    """
    return await matching.list_invitations(
        deps().marketplace, principal(), provider, application, status, limit, cursor
    )
