"""Application tools (on the ``credit`` server): draft, submit, change, withdraw, read, list and expire
credit applications.

Amounts are decimal strings in major units with at most the currency's decimals (NGN "250000.00",
JPY "50000"), never floats.
"""

from __future__ import annotations

from typing import Annotated

from fastmcp import Context
from pydantic import Field

from mcp_servers.apps import BORROWER_APP
from mcp_servers.params import ApplicationHandle, Cursor, Limit, OptionalIdempotencyKey
from mcp_servers.platform.progress import reporter, tell
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.credit import applications
from tools.credit.models.applications import (
    NATIONAL_ID_PATTERN,
    ApplicationPage,
    ApplicationStatus,
    ApplicationTimeline,
    ApplicationView,
    DraftApplication,
    DraftChanges,
    ExpiryReport,
    ListApplications,
    SubmitApplication,
)
from tools.platform.models import FreeText, Identifier, Moment
from tools.platform.principal import Role

__all__ = ["TOOLS"]


# Who may read applications; ownership inside the use cases narrows what each of them sees.
READERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})
# Who may file and change applications (borrowers for themselves, the others for a borrower).
FILERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.SERVICE})


TOOLS = ToolSet()


@TOOLS.tool(roles=FILERS, title="Submit a credit application", read_only=False)
async def submit_application(
    application: Annotated[
        SubmitApplication | None, Field(default=None, description="A complete application to file now.")
    ] = None,
    draft: Annotated[
        Identifier | None,
        Field(default=None, max_length=64, description="Or: the id or reference of a complete draft."),
    ] = None,
    idempotency_key: OptionalIdempotencyKey = None,
) -> ApplicationView:
    """Submit a borrower's credit application for assessment and return it with its reference.

    Use when a borrower (or an agent or operator acting for one) asks for credit: either give the
    complete ``application`` or the id of a ``draft`` made with draft_application (an incomplete
    draft is refused with the fields still missing). Borrowers apply for themselves; agents and
    operators must set ``application.borrower_id``. Send an ``idempotency_key`` whenever a retry is
    possible: the retry then returns the same application with ``replayed: true`` instead of filing
    a duplicate. Returns the stored application: its id, its ``CAAS-YYYY-NNNNNN`` reference, status
    ``submitted`` and the amounts as decimal strings.
    """
    return await applications.submit_application(
        deps().credit, invocation(), application, draft, idempotency_key
    )


@TOOLS.tool(roles=FILERS, title="Save a draft application", read_only=False)
async def draft_application(application: DraftApplication) -> ApplicationView:
    """Save an application that is not ready yet, as status ``draft``; nothing is assessed.

    Use when the borrower has started but lacks figures: the applicant and currency are needed
    now, the rest can follow with update_application. Submit it later with
    submit_application(draft=<id>). Returns the draft with its reference.
    """
    return await applications.draft_application(deps().credit, invocation(), application)


@TOOLS.tool(roles=FILERS, title="Change a draft application", read_only=False, idempotent=True)
async def update_application(application: ApplicationHandle, changes: DraftChanges) -> ApplicationView:
    """Change fields of a draft application; fields left out keep their value.

    Use while the application is a ``draft`` (also after a reviewer asked for more information).
    Anything past draft is a conflict: its figures are what was assessed. Returns the draft.
    """
    return await applications.update_application(deps().credit, invocation(), application, changes)


@TOOLS.tool(roles=FILERS | {Role.ADMIN}, title="Withdraw an application", read_only=False, destructive=True)
async def withdraw_application(
    application: ApplicationHandle,
    reason: Annotated[
        FreeText, Field(min_length=3, max_length=500, description="Why; kept in the audit and the event.")
    ] = "withdrawn at the borrower's request",
) -> ApplicationView:
    """Withdraw an application for good; it can no longer be assessed, bid on or approved.

    Use when the borrower no longer wants the credit. Possible until a loan is originated from it (an
    accepted offer's reserved capital goes back to its lender; once an offer is accepted only the
    borrower, or an operator or admin for them, may withdraw); after that, cancel the loan instead
    (cancel_loan). Returns the application, now ``withdrawn``.
    """
    return await applications.withdraw_application(deps().credit, invocation(), application, reason)


@TOOLS.tool(roles=READERS, title="Show an application's timeline", read_only=True, idempotent=True)
async def get_application_timeline(application: ApplicationHandle) -> ApplicationTimeline:
    """Every status change of an application, oldest first: from, to, who, when and why.

    Use to explain where an application is and how it got there. Operators and admins also get
    maker_checker: who made each step (and so may not approve it) and whether they may approve it.
    """
    return await applications.get_application_timeline(deps().credit, principal(), application)


@TOOLS.tool(
    roles={Role.OPERATOR, Role.ADMIN, Role.SERVICE},
    title="Expire stale applications",
    read_only=False,
    idempotent=True,
)
async def expire_stale_applications(ctx: Context) -> ExpiryReport:
    """Expire applications that stayed open for bids past the bidding window without an accepted offer,
    and accepted ones whose offer's validity passed before approval (the lender's capital released).

    Use by hand to end them now (the workers run it every minute). Running it twice, or twice at once,
    expires each application once. Returns the references it expired.
    """
    await reporter(ctx)(0, 1, "expiring applications past the bidding window")
    expired = await applications.expire_stale_applications(deps().credit, invocation())
    await reporter(ctx)(1, 1, f"{len(expired)} applications expired")
    await tell(
        ctx,
        "info",
        f"expired {len(expired)} applications: {', '.join(expired[:20]) or 'none'}"
        + (" ..." if len(expired) > 20 else ""),
    )
    return ExpiryReport(expired=expired, count=len(expired))


@TOOLS.tool(
    roles=READERS, title="Get a credit application", read_only=True, idempotent=True, app=BORROWER_APP
)
async def get_application(application: ApplicationHandle) -> ApplicationView:
    """Read one application in full: applicant, amounts, term, purpose, employment and status.

    Use to check an application's current state. Borrowers can read only their own, agents the
    ones they filed; any other id answers not_found, exactly like an id that does not exist.
    """
    return await applications.get_application(deps().credit, principal(), application)


@TOOLS.tool(roles=READERS, title="List credit applications", read_only=True, idempotent=True)
async def list_applications(
    status: Annotated[
        list[ApplicationStatus] | None,
        Field(default=None, max_length=len(ApplicationStatus), description="Only these statuses."),
    ] = None,
    borrower_id: Annotated[
        Identifier | None,
        Field(default=None, max_length=128, description="Staff only: one borrower's applications."),
    ] = None,
    national_id: Annotated[
        str | None,
        Field(
            default=None,
            pattern=NATIONAL_ID_PATTERN,
            description="Staff only: applications with this national id.",
        ),
    ] = None,
    created_from: Annotated[
        Moment | None,
        Field(default=None, description="Created at or after (ISO 8601 with offset)."),
    ] = None,
    created_to: Annotated[
        Moment | None, Field(default=None, description="Created before (ISO 8601 with offset).")
    ] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ApplicationPage:
    """List applications newest first, a page at a time, optionally by status and creation window.

    Use to find applications or work through them. Borrowers see their own, agents those they
    filed, operators and admins all. Pass ``next_cursor`` back as ``cursor`` for the next page;
    it is null on the last page.
    """
    query = ListApplications(
        status=status,
        borrower_id=borrower_id,
        national_id=national_id,
        created_from=created_from,
        created_to=created_to,
        limit=limit,
        cursor=cursor,
    )
    return await applications.list_applications(deps().credit, principal(), query)
