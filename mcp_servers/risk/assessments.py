"""Risk tools (the ``risk`` server): the scorecard, stored assessments, what-if simulation and the model
document.

A documented, versioned scorecard (read caas://risk/model to explain any
score, grade or reason). Scoring stores the assessment and routes the application: approve opens it
for bids, refer sends it to a human review, decline records an adverse-action notice.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastmcp import Context, FastMCP
from pydantic import Field

from mcp_servers.params import ApplicationHandle
from mcp_servers.platform.progress import reporter, tell
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.platform.principal import Role
from tools.risk import assessments
from tools.risk.models import BatchReport, BureauData, RiskAssessmentView, SimulateScore

__all__ = ["MODEL_URI", "TOOLS", "register_model_resource"]

MODEL_URI = "caas://risk/model"


def register_model_resource(server: FastMCP) -> None:
    """The model document, on the top-level server so that its address is the same whether the risk
    service runs alone or inside the composed server (a mount would rewrite it)."""

    @server.resource(MODEL_URI, name="risk_model", mime_type="text/markdown")
    def risk_model() -> str:
        """The scorecard's model document: scaling, every characteristic's bins and points, grades,
        cut-offs, hard policy rules and how reason codes are chosen."""
        return resources.files("tools.risk.domain").joinpath("risk_model.md").read_text(encoding="utf-8")


STAFF = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})
READERS = frozenset({Role.BORROWER, Role.AGENT, Role.OPERATOR, Role.ADMIN, Role.SERVICE})


TOOLS = ToolSet()


@TOOLS.tool(roles=STAFF, title="Score an application", read_only=False)
async def score_application(
    application: ApplicationHandle, bureau: BureauData | None = None
) -> RiskAssessmentView:
    """Score a submitted application, store the assessment and route the application.

    Use once per submitted application (optionally with what a credit bureau reported). A clear
    approve opens it for bids, a clear decline declines it with an adverse-action notice, anything
    between goes to under_review. Returns the score (300-850), PD, grade, recommendation, DTI after
    the loan, the largest affordable amount, a rate band and up to four specific reasons.
    """
    return await assessments.score_application(deps().risk, invocation(), application, bureau)


@TOOLS.tool(roles=STAFF, title="Score several applications", read_only=False)
async def score_applications_batch(
    applications: Annotated[
        list[ApplicationHandle],
        Field(min_length=1, max_length=100, description="The applications to score (ids or references)."),
    ],
    ctx: Context,
    bureau: BureauData | None = None,
) -> BatchReport:
    """Score up to 100 submitted applications, reporting progress after each one.

    Use to work through a backlog. Each application is scored in its own transaction, so one that
    fails (for example because it is no longer submitted) is reported and the rest go on.
    """

    report = await assessments.score_applications_batch(
        deps().risk, invocation(), applications, bureau, reporter(ctx)
    )
    await tell(
        ctx, "warning" if report.failed else "info", f"scored {report.scored}, {report.failed} could not be"
    )
    return report


@TOOLS.tool(roles=READERS, title="Get a risk assessment", read_only=True, idempotent=True)
async def get_risk_assessment(application: ApplicationHandle) -> RiskAssessmentView:
    """The latest stored assessment of an application, with every input the model used.

    Use to explain a score or a decision; read caas://risk/model for what each reason means.
    """
    return await assessments.get_risk_assessment(deps().risk, principal(), application)


@TOOLS.tool(roles=READERS, title="Simulate a score", read_only=True, idempotent=True)
async def simulate_score(inputs: SimulateScore) -> RiskAssessmentView:
    """What the scorecard would say for these inputs; nothing is stored or changed.

    Use for what-if questions ("what if the amount were lower?") before or after applying.
    """
    return assessments.simulate_score(deps().risk, inputs)
