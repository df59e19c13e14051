"""The adverse-action notice a declined borrower receives (modelled on US Regulation B, 12 CFR 1002.9)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

__all__ = ["adverse_action_text"]

_RIGHTS = (
    "The federal Equal Credit Opportunity Act prohibits creditors from discriminating against credit "
    "applicants on the basis of race, color, religion, national origin, sex, marital status or age "
    "(provided the applicant has the capacity to contract), because all or part of the applicant's income "
    "derives from any public assistance program, or because the applicant has in good faith exercised any "
    "right under the Consumer Credit Protection Act. You may ask the platform operator for a copy of the "
    "information used in this decision within 60 days."
)


def adverse_action_text(reference: str, reasons: Sequence[str], decided_on: date, decided_by: str) -> str:
    """The notice: what was decided, the principal specific reasons, and the applicant's rights."""
    listed = "\n".join(f"  {i}. {reason}" for i, reason in enumerate(reasons, start=1))
    return (
        f"Notice of action taken on credit application {reference}\n"
        f"Date: {decided_on.isoformat()}\n\n"
        "Your application for credit has been declined.\n\n"
        f"Principal reasons for this decision:\n{listed}\n\n"
        f"Decision made by: {decided_by}\n\n{_RIGHTS}\n"
    )
