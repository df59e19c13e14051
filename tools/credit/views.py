"""Output models built from domain records: the one place that decides what a caller is shown."""

from __future__ import annotations

from datetime import date

from tools.credit.domain.applications import ApplicationRecord
from tools.credit.models.applications import (
    ApplicationStatus,
    ApplicationSummary,
    ApplicationView,
    EmploymentView,
)
from tools.credit.personal_data import Unsealed, applicant_view
from tools.platform.models import Money
from tools.platform.ports import PersonalDataVault
from tools.platform.principal import Principal

__all__ = ["application_summary", "application_view"]


def _money(minor: int | None, currency: str) -> Money | None:
    return None if minor is None else Money.from_minor(minor, currency)


def _summary_fields(app: ApplicationRecord) -> dict[str, object]:
    return {
        "id": app.id,
        "reference": app.reference,
        "status": ApplicationStatus(app.status),
        "borrower_id": app.borrower_id,
        "requested_amount": _money(app.requested_amount_minor, app.currency),
        "term_months": app.term_months,
        "purpose": app.purpose,
        "created_at": app.created_at,
        "submitted_at": app.submitted_at,
        "status_changed_at": app.status_changed_at,
    }


def application_summary(app: ApplicationRecord) -> ApplicationSummary:
    return ApplicationSummary.model_validate(_summary_fields(app))


def application_view(
    app: ApplicationRecord,
    principal: Principal,
    vault: PersonalDataVault,
    today: date,
    unsealed: Unsealed | None = None,
) -> ApplicationView:
    employment = None
    if app.employment_status is not None:
        employment = EmploymentView(
            status=app.employment_status,
            employer_name=app.employer_name,
            months_in_employment=app.months_in_employment,
        )
    return ApplicationView.model_validate(
        {
            **_summary_fields(app),
            "applicant": applicant_view(app, principal, vault, today, unsealed),
            "purpose_detail": app.purpose_detail,
            "monthly_income": _money(app.monthly_income_minor, app.currency),
            "monthly_obligations": _money(app.monthly_obligations_minor, app.currency),
            "employment": employment,
            "created_by": app.created_by,
            "updated_at": app.updated_at,
            "version": app.version,
        }
    )
