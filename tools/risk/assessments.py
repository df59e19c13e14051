"""Use cases of the risk service: score an application (and route it), read, simulate, batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from tools.credit.access import can_view
from tools.credit.domain.applications import ApplicationRecord, age_on
from tools.credit.domain.kyc import kyc_status
from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.lifecycle import locked_application, not_found, transition
from tools.credit.personal_data import unseal
from tools.credit.ports import CreditUnitOfWork
from tools.platform.domain.money import from_minor
from tools.platform.errors import Conflict, DomainError, InvalidArgument, NotFound
from tools.platform.ports import Clock, Invocation, OutboxEvent
from tools.platform.principal import Principal
from tools.risk.domain.notices import adverse_action_text
from tools.risk.domain.score_inputs import EmploymentStatus, Purpose, ScoreInputs
from tools.risk.domain.scorecard import Assessment, Recommendation, score
from tools.risk.models import (
    BatchItem,
    BatchReport,
    BureauData,
    ReasonView,
    RiskAssessmentView,
    SimulateScore,
)
from tools.risk.ports import RiskDeps, ScoringSources, StoredAssessment

__all__ = [
    "get_risk_assessment",
    "score_application",
    "score_applications_batch",
    "simulate_score",
]

ROUTES = {
    Recommendation.APPROVE: ApplicationStatus.OPEN_FOR_BIDS,
    Recommendation.REFER: ApplicationStatus.UNDER_REVIEW,
    Recommendation.DECLINE: ApplicationStatus.DECLINED,
}


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def assessment_json(a: Assessment) -> dict[str, Any]:
    data = asdict(a)
    data["reasons"] = [asdict(r) for r in a.reasons]
    data["breakdown"] = [{**asdict(c), "points_lost": c.points_lost} for c in a.breakdown]
    return _json(data)


def inputs_json(inputs: ScoreInputs) -> dict[str, Any]:
    stored = dict(_json(asdict(inputs)))
    if inputs.offered_installment is None:  # only an approval's re-check knows the offer's installment
        del stored["offered_installment"]
    return stored


async def inputs_for(
    deps: ScoringSources,
    app: ApplicationRecord,
    bureau: BureauData | None,
    terms: tuple[Decimal, int] | None = None,
    verified: set[str] | None = None,
    offered_installment: Decimal | None = None,
) -> ScoreInputs:
    """The scorecard's view of an application; ``terms`` (amount, months) override the requested ones;
    ``verified``: its verified document types, when the caller read them already;
    ``offered_installment``: the accepted offer's monthly installment, at approval."""
    born = unseal(deps.vault, app).date_of_birth
    if born is None or app.monthly_income_minor is None or app.requested_amount_minor is None:
        raise Conflict(f"{app.reference} is a draft without the figures needed to score it")
    assert (
        app.term_months
        and app.purpose
        and app.employment_status
        and app.monthly_obligations_minor is not None
    )
    if verified is None:
        verified = await deps.documents.verified_document_types(app.id)
    kyc = kyc_status(verified)
    amount, term = terms or (from_minor(app.requested_amount_minor, app.currency), app.term_months)
    return ScoreInputs(
        monthly_income=from_minor(app.monthly_income_minor, app.currency),
        employment_status=EmploymentStatus(app.employment_status),
        months_in_employment=app.months_in_employment,
        monthly_obligations=from_minor(app.monthly_obligations_minor, app.currency),
        requested_amount=amount,
        term_months=term,
        purpose=Purpose(app.purpose),
        age_years=age_on(born, deps.clock.today()),
        bureau_score=bureau.bureau_score if bureau else None,
        recent_delinquencies=bureau.recent_delinquencies if bureau else None,
        kyc_verified=kyc.identity_verified,
        currency=app.currency,
        offered_installment=offered_installment,
    )


def _view(
    result: dict[str, Any], inputs: dict[str, Any], stored: StoredAssessment | None, status: str | None = None
) -> RiskAssessmentView:
    band = result["suggested_rate_band"]
    return RiskAssessmentView(
        id=stored.id if stored else None,
        application_id=stored.application_id if stored else None,
        model_version=result["model_version"],
        stage=result["stage"],
        score=result["score"],
        pd=Decimal(result["pd"]),
        grade=result["grade"],
        recommendation=result["recommendation"],
        dti_after=Decimal(result["dti_after"]),
        installment_estimate=Decimal(result["installment_estimate"]),
        max_affordable_amount=Decimal(result["max_affordable_amount"]),
        suggested_rate_band={
            "min_annual_rate": Decimal(band["min_annual_rate"]),
            "max_annual_rate": Decimal(band["max_annual_rate"]),
        },
        reasons=[ReasonView(**r) for r in result["reasons"]],
        breakdown=result["breakdown"],
        inputs=inputs,
        assessed_at=stored.assessed_at if stored else None,
        application_status=ApplicationStatus(status) if status else None,
    )


async def record_decline(
    uow: CreditUnitOfWork,
    clock: Clock,
    call: Invocation,
    app: ApplicationRecord,
    assessment_id: Any,
    reasons: list[dict[str, Any]],
) -> None:
    """Store the adverse-action notice of a declined application (once; in the decline's transaction)."""
    text = adverse_action_text(
        app.reference, [r["message"] for r in reasons], clock.today(), call.principal.role.value
    )
    await uow.risk.add_notice(app.id, assessment_id, reasons, text, call.principal.subject)


async def _score_locked(
    deps: RiskDeps, uow: CreditUnitOfWork, call: Invocation, app: ApplicationRecord, bureau: BureauData | None
) -> RiskAssessmentView:
    if app.status != ApplicationStatus.SUBMITTED:
        raise Conflict(f"{app.reference} is {app.status}; only a submitted application is scored")
    verified = await uow.documents.verified_document_types(app.id)  # not the pool's: this holds a connection
    inputs = await inputs_for(deps, app, bureau, verified=verified)
    assessment = score(inputs, deps.policy, stage="scoring")
    result = assessment_json(assessment)
    inputs_data = inputs_json(inputs)
    stored = await uow.risk.add_assessment(
        app.id, assessment.model_version, "scoring", inputs_data, result, call.principal.subject
    )
    route = ROUTES[assessment.recommendation]
    event = OutboxEvent(
        "application",
        str(app.id),
        "risk.assessed",
        {
            "application_id": str(app.id),
            "assessment_id": str(stored.id),
            "score": assessment.score,
            "grade": assessment.grade.value,
            "recommendation": assessment.recommendation.value,
        },
    )
    reason = f"scored {assessment.score} (grade {assessment.grade.value}): {assessment.recommendation.value}"
    moved = await transition(uow, call, app, route, reason, [event])
    if route is ApplicationStatus.DECLINED:
        await record_decline(uow, deps.clock, call, moved, stored.id, result["reasons"])
    return _view(result, inputs_data, stored, moved.status)


async def score_application(
    deps: RiskDeps, call: Invocation, handle: str, bureau: BureauData | None = None
) -> RiskAssessmentView:
    async with deps.uow() as uow:
        app = await locked_application(uow, call.principal, handle)
        return await _score_locked(deps, uow, call, app, bureau)


async def score_applications_batch(
    deps: RiskDeps,
    call: Invocation,
    handles: list[str],
    bureau: BureauData | None,
    progress: Callable[[int, int, str], Awaitable[None]],
) -> BatchReport:
    """Score each application in its own transaction (one failure does not undo the others)."""
    items: list[BatchItem] = []
    for done, handle in enumerate(handles, start=1):
        try:
            view = await score_application(deps, call, handle, bureau)
            items.append(
                BatchItem(application=handle, outcome=view.recommendation, status=view.application_status)
            )
        except DomainError as exc:
            items.append(BatchItem(application=handle, outcome=exc.code, status=None, error=exc.message))
        await progress(done, len(handles), f"{done}/{len(handles)}: {handle} -> {items[-1].outcome}")
    failed = sum(1 for i in items if i.error)
    return BatchReport(scored=len(items) - failed, failed=failed, items=items)


async def get_risk_assessment(deps: RiskDeps, principal: Principal, handle: str) -> RiskAssessmentView:
    app = await deps.applications.get(handle)
    if app is None or not can_view(principal, app):
        raise not_found(handle)
    stored = await deps.risk.latest_assessment(app.id)
    if stored is None:
        raise NotFound(f"{app.reference} has not been scored yet; call score_application first")
    return _view(stored.result, stored.inputs, stored, app.status)


def simulate_score(deps: RiskDeps, cmd: SimulateScore) -> RiskAssessmentView:
    try:
        inputs = ScoreInputs(
            monthly_income=cmd.monthly_income,
            employment_status=EmploymentStatus(cmd.employment_status.value),
            months_in_employment=cmd.months_in_employment,
            monthly_obligations=cmd.monthly_obligations,
            requested_amount=cmd.requested_amount,
            term_months=cmd.term_months,
            purpose=Purpose(cmd.purpose.value),
            age_years=cmd.age_years,
            bureau_score=cmd.bureau_score,
            recent_delinquencies=cmd.recent_delinquencies,
            kyc_verified=cmd.kyc_verified,
        )
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    assessment = score(inputs, deps.policy, stage=cmd.stage)
    return _view(assessment_json(assessment), inputs_json(inputs), None)
