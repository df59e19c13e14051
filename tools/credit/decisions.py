"""Human decisions: the review queue, reviews with mandatory comments, approval with maker-checker."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tools.credit.access import can_view
from tools.credit.domain.kyc import kyc_status
from tools.credit.domain.lifecycle import ApplicationStatus, IllegalTransition, check_transition
from tools.credit.domain.maker_checker import maker_steps, step_of
from tools.credit.lifecycle import locked_application, not_found, transition
from tools.credit.ports import CreditDeps
from tools.marketplace.domain.bids import BidRecord
from tools.marketplace.domain.offers import monthly_installment
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.domain.money import from_minor
from tools.platform.errors import Conflict, NotFound, PermissionDenied
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role
from tools.risk.assessments import assessment_json, inputs_for, inputs_json, record_decline
from tools.risk.domain.scorecard import score
from tools.risk.models import (
    AdverseActionNoticeView,
    ApprovalResult,
    BureauData,
    ReasonView,
    ReviewDecision,
    ReviewQueue,
    ReviewQueueItem,
)
from tools.risk.ports import StoredAssessment

__all__ = ["approve_application", "get_adverse_action_notice", "list_review_queue", "review_application"]

DECISION_TARGETS = {
    ReviewDecision.OPEN_FOR_BIDS: ApplicationStatus.OPEN_FOR_BIDS,
    ReviewDecision.DECLINE: ApplicationStatus.DECLINED,
    ReviewDecision.REQUEST_INFORMATION: ApplicationStatus.DRAFT,
}


_REVIEW_QUEUE = keyset("review_queue")


async def list_review_queue(deps: CreditDeps, limit: int, cursor: str | None) -> ReviewQueue:
    rows = await deps.risk.review_queue(decode_cursor(_REVIEW_QUEUE, cursor) if cursor else None, limit + 1)
    page = rows[:limit]
    items = [
        ReviewQueueItem(
            id=r["id"],
            reference=r["reference"],
            borrower_id=r["borrower_id"],
            referred_at=r["referred_at"],
            score=r["score"],
            grade=r["grade"],
            reasons=[ReasonView(**x) for x in (r["reasons"] or [])],
        )
        for r in page
    ]
    more = len(rows) > limit
    last = page[-1] if more else None
    return ReviewQueue(
        items=items,
        next_cursor=None if last is None else encode_cursor(_REVIEW_QUEUE, last["referred_at"], last["id"]),
    )


async def review_application(
    deps: CreditDeps, call: Invocation, handle: str, decision: ReviewDecision, comment: str
) -> ApprovalResult:
    async with deps.uow() as uow:
        app = await locked_application(uow, call.principal, handle)
        if app.status != ApplicationStatus.UNDER_REVIEW:
            raise Conflict(f"{app.reference} is {app.status}; only applications under review are reviewed")
        if call.principal.subject in (app.created_by, app.borrower_id):
            made = "filed" if call.principal.subject == app.created_by else "applied for"
            raise PermissionDenied(f"you {made} this application, so someone else must review it")
        reason = f"review: {decision.value}: {comment}"
        moved = await transition(uow, call, app, DECISION_TARGETS[decision], reason)
        reasons: list[dict[str, object]] = []
        if decision is ReviewDecision.DECLINE:
            latest = await uow.risk.latest_assessment(app.id)
            reasons = [{"code": "review.declined", "message": comment, "points_lost": 0}]
            # Conditions (such as identity still to be verified) are not reasons for the decline itself.
            reasons += [
                r
                for r in (latest.result["reasons"] if latest else [])
                if not r["code"].startswith("condition.")
            ]
            await record_decline(uow, deps.clock, call, moved, latest.id if latest else None, reasons[:4])
    return ApprovalResult(
        application_id=moved.id,
        reference=moved.reference,
        status=ApplicationStatus(moved.status),
        approved=moved.status == ApplicationStatus.OPEN_FOR_BIDS,
        reasons=[ReasonView.model_validate(r) for r in reasons[:4]],
    )


def _bureau_of(scored: StoredAssessment | None) -> BureauData | None:
    """What the bureau reported when the application was scored: the re-check scores the same file."""
    if scored is None:
        return None
    return BureauData(
        bureau_score=scored.inputs.get("bureau_score"),
        recent_delinquencies=scored.inputs.get("recent_delinquencies"),
    )


def _offered_installment(offer: BidRecord | None, today: date) -> Decimal | None:
    """The accepted offer's largest installment as a monthly amount: debt-to-income at approval is
    the borrower's real new payment (its rate, method and frequency), not an estimate at the policy's
    reference rate, which a dearer offer would exceed."""
    return None if offer is None else monthly_installment(offer.terms(), today)


def _needs_operator(deps: CreditDeps, currency: str, amount: Decimal) -> bool:
    limit = deps.operator_approval_above.get(currency)
    return limit is None or amount > limit


async def approve_application(
    deps: CreditDeps, call: Invocation, handle: str, comment: str
) -> ApprovalResult:
    """Re-check policy at the accepted offer's amount, term and installment (debt-to-income at what the
    borrower will really pay) and approve, or decline with a notice if it fails."""
    principal = call.principal
    async with deps.uow() as uow:
        app = await locked_application(uow, principal, handle)
        try:
            check_transition(ApplicationStatus(app.status), ApplicationStatus.APPROVED)
        except IllegalTransition as exc:
            raise Conflict(f"{app.reference}: {exc}") from None
        maker = step_of(maker_steps(app, await uow.applications.timeline(app.id)), principal.subject)
        if maker is not None:
            raise PermissionDenied(
                f"maker-checker: you {maker} {app.reference}, so you cannot approve it; ask another operator"
            )
        assert app.requested_amount_minor is not None
        # The accepted offer's amount and term (a probe's find: a 3-month offer on a 12-month request was
        # approved on the request's affordability); the requested ones only without an offer.
        offer = await uow.bids.accepted_bid(app.id)
        if offer is not None and offer.valid_until <= deps.clock.now():
            raise Conflict(
                f"{app.reference}: the offer of {offer.provider_name} it accepted was valid until "
                f"{offer.valid_until.isoformat()}, so it lapsed before approval; the application expires and "
                "its capital goes back to the lender (expire_stale_applications does it now), and the "
                "borrower applies again"
            )
        minor, months = (offer.amount_minor, offer.term_months) if offer else (app.requested_amount_minor, 0)
        amount = from_minor(minor, app.currency)
        if principal.role not in (Role.OPERATOR, Role.ADMIN) and _needs_operator(deps, app.currency, amount):
            raise PermissionDenied(f"approving {amount} {app.currency} needs an operator or admin")
        verified = await uow.documents.verified_document_types(app.id)
        kyc = kyc_status(verified)
        if not kyc.complete:
            raise Conflict(f"{app.reference} cannot be approved without {' and '.join(kyc.missing())}")
        if app.bank_account_encrypted is None:  # else approved, originated, then never paid out
            raise Conflict(
                f"{app.reference} cannot be approved: it has no bank account to pay the loan into, and none "
                "can be added once an application is submitted; the borrower withdraws it "
                "(withdraw_application) and applies again with their bank account"
            )
        bureau = _bureau_of(await uow.risk.latest_assessment(app.id))
        terms = (amount, months or app.term_months or 1)
        paying = _offered_installment(offer, deps.clock.today())
        inputs = await inputs_for(deps, app, bureau, terms, verified, paying)
        assessment = score(inputs, deps.policy, stage="approval")
        result = assessment_json(assessment)
        stored = await uow.risk.add_assessment(
            app.id, assessment.model_version, "approval", inputs_json(inputs), result, principal.subject
        )
        failed = [r for r in result["reasons"] if r["code"].startswith("policy.")]
        if failed:
            moved = await transition(
                uow, call, app, ApplicationStatus.DECLINED, "approval policy re-check failed"
            )
            await record_decline(uow, deps.clock, call, moved, stored.id, failed)
        else:
            moved = await transition(uow, call, app, ApplicationStatus.APPROVED, f"approved: {comment}")
    return ApprovalResult(
        application_id=moved.id,
        reference=moved.reference,
        status=ApplicationStatus(moved.status),
        approved=not failed,
        reasons=[ReasonView(**r) for r in failed],
    )


async def get_adverse_action_notice(
    deps: CreditDeps, principal: Principal, handle: str
) -> AdverseActionNoticeView:
    app = await deps.applications.get(handle)
    if app is None or not can_view(principal, app):
        raise not_found(handle)
    notice = await deps.risk.notice(app.id)
    if notice is None:
        raise NotFound(f"{app.reference} has no adverse-action notice; only declined applications get one")
    return AdverseActionNoticeView(
        application_id=app.id,
        reference=app.reference,
        reasons=[ReasonView(**r) for r in notice.reasons],
        notice_text=notice.notice_text,
        issued_at=notice.issued_at,
    )
