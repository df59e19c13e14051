"""Decision tools on the ``credit`` service: the review queue, reviews, approval, adverse-action notices."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from mcp_servers.apps import QUEUE_APP
from mcp_servers.params import ApplicationHandle, Cursor, Limit
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.credit import decisions
from tools.platform.models import FreeText
from tools.platform.principal import Role
from tools.risk.models import AdverseActionNoticeView, ApprovalResult, ReviewDecision, ReviewQueue

__all__ = ["TOOLS"]

REVIEWERS = frozenset({Role.OPERATOR, Role.ADMIN})
READERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})
# Stripped before the length check: a comment of blanks is no comment. At most 1900 characters, so that
# the timeline reason ("review: request_information: <comment>", at most 2000) always holds all of it.
Comment = Annotated[
    FreeText,
    StringConstraints(strip_whitespace=True, min_length=10, max_length=1900),
    Field(description="Mandatory: why, in words the borrower may read."),
]


TOOLS = ToolSet()


@TOOLS.tool(roles=REVIEWERS, title="List the review queue", read_only=True, idempotent=True, app=QUEUE_APP)
async def list_review_queue(
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ReviewQueue:
    """Applications referred to a human, oldest first, each with its score, grade and reasons.

    Use to pick the next application to review with review_application.
    """
    return await decisions.list_review_queue(deps().credit, limit, cursor)


@TOOLS.tool(roles=REVIEWERS, title="Review a referred application", read_only=False)
async def review_application(
    application: ApplicationHandle,
    decision: Annotated[ReviewDecision, Field(description="open_for_bids, decline or request_information.")],
    comment: Comment,
) -> ApprovalResult:
    """Decide an application under review: open it for bids, decline it, or ask for more information.

    Use on applications from list_review_queue. A decline stores an adverse-action notice whose first
    reason is your comment; requesting information sends it back to draft for the borrower to
    update. You cannot review an application you filed.
    """
    return await decisions.review_application(deps().credit, invocation(), application, decision, comment)


@TOOLS.tool(
    roles={Role.OPERATOR, Role.ADMIN, Role.SERVICE},
    title="Approve an application",
    read_only=False,
)
async def approve_application(application: ApplicationHandle, comment: Comment) -> ApprovalResult:
    """Approve an application whose offer was accepted, after re-checking policy.

    Use once the borrower has accepted an offer (status offer_accepted). Checks that identity and
    income documents are verified and that the loan is affordable at the accepted terms; a failed
    re-check declines it with a notice (approved: false). Maker-checker: its borrower, and whoever
    filed, edited as a draft, submitted, reviewed or last changed it, cannot approve it; amounts above
    the configured limit need an operator.
    """
    return await decisions.approve_application(deps().credit, invocation(), application, comment)


@TOOLS.tool(roles=READERS, title="Get the adverse-action notice", read_only=True, idempotent=True)
async def get_adverse_action_notice(application: ApplicationHandle) -> AdverseActionNoticeView:
    """The notice a declined applicant receives: the decision, its principal reasons and their rights.

    Use to tell a borrower why their application was declined.
    """
    return await decisions.get_adverse_action_notice(deps().credit, principal(), application)
