"""Use cases for credit applications: submit, read one, list."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from tools.access import can_view, visibility_filter
from tools.cursor import decode_cursor, encode_cursor
from tools.domain.applications import ApplicationRecord, NewApplication
from tools.domain.money import from_minor, to_minor
from tools.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from tools.models.applications import (
    ApplicantView,
    ApplicationPage,
    ApplicationStatus,
    ApplicationSummary,
    ApplicationView,
    EmploymentView,
    ListApplications,
    SubmitApplication,
)
from tools.models.common import Money
from tools.ports import (
    ApplicationQuery,
    ApplicationReader,
    AuditRecord,
    IdempotencyClaim,
    Invocation,
    OutboxEvent,
    UnitOfWorkFactory,
)
from tools.principal import Principal, Role

__all__ = ["ApplicationDeps", "get_application", "list_applications", "submit_application"]


@dataclass(frozen=True, slots=True)
class ApplicationDeps:
    uow: UnitOfWorkFactory
    reader: ApplicationReader


def _borrower_for(principal: Principal, requested: str | None) -> str:
    if principal.role is Role.BORROWER:
        if requested not in (None, principal.subject):
            raise PermissionDenied(
                "borrowers can only apply for themselves; leave borrower_id out or set it to your own id"
            )
        return principal.subject
    if requested is None:
        raise InvalidArgument(
            f"a {principal.role} files applications for a borrower; "
            "set borrower_id to the borrower's subject id"
        )
    return requested


def _request_hash(cmd: SubmitApplication) -> str:
    canonical = json.dumps(cmd.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _new_application(principal: Principal, cmd: SubmitApplication) -> NewApplication:
    return NewApplication(
        borrower_id=_borrower_for(principal, cmd.borrower_id),
        created_by=principal.subject,
        created_by_role=principal.role.value,
        status=ApplicationStatus.SUBMITTED.value,
        applicant_name=cmd.applicant.full_name,
        applicant_email=str(cmd.applicant.email),
        applicant_phone=cmd.applicant.phone,
        applicant_country=cmd.applicant.country,
        currency=cmd.currency,
        requested_amount_minor=to_minor(cmd.amount, cmd.currency),
        term_months=cmd.term_months,
        purpose=cmd.purpose.value,
        purpose_detail=cmd.purpose_detail,
        monthly_income_minor=to_minor(cmd.monthly_income, cmd.currency),
        monthly_obligations_minor=to_minor(cmd.monthly_obligations, cmd.currency),
        employment_status=cmd.employment.status.value,
        employer_name=cmd.employment.employer_name,
        months_in_employment=cmd.employment.months_in_employment,
    )


def _submitted_event(app: ApplicationRecord) -> OutboxEvent:
    # No personal data in events: they leave the system of record (webhooks, Supabase mirror).
    return OutboxEvent(
        aggregate_type="application",
        aggregate_id=str(app.id),
        event_type="application.submitted",
        payload={
            "application_id": str(app.id),
            "reference": app.reference,
            "borrower_id": app.borrower_id,
            "status": app.status,
            "amount": str(from_minor(app.requested_amount_minor, app.currency)),
            "currency": app.currency,
            "term_months": app.term_months,
            "purpose": app.purpose,
            "submitted_at": app.submitted_at.isoformat() if app.submitted_at else None,
        },
    )


async def submit_application(
    deps: ApplicationDeps, call: Invocation, cmd: SubmitApplication, idempotency_key: str | None = None
) -> ApplicationView:
    """Store a submitted application with its audit row and ``application.submitted`` event."""
    new = _new_application(call.principal, cmd)
    async with deps.uow() as uow:
        claim = None
        if idempotency_key is not None:
            claim = IdempotencyClaim(
                call.principal.subject, "submit_application", idempotency_key, _request_hash(cmd)
            )
            earlier = await uow.claim_idempotency_key(claim)
            if earlier.request_sha256 is not None and earlier.request_sha256 != claim.request_sha256:
                raise Conflict(
                    "this idempotency_key was already used with different arguments; "
                    "repeat the original arguments, or use a new key for a new application"
                )
            if earlier.resource_id is not None:
                replay = await deps.reader.get(earlier.resource_id)
                if replay is None:  # pragma: no cover - foreign key makes this impossible
                    raise NotFound("the application recorded for this idempotency_key no longer exists")
                return _view(replay).model_copy(update={"replayed": True})
        app = await uow.applications.insert(new)
        if claim is not None:
            await uow.complete_idempotency_key(claim, str(app.id))
        await uow.record(AuditRecord(call, "application", str(app.id)), [_submitted_event(app)])
    return _view(app)


async def get_application(
    deps: ApplicationDeps, principal: Principal, id_or_reference: str
) -> ApplicationView:
    app = await deps.reader.get(id_or_reference)
    # Someone else's application is reported exactly like a missing one, so ids cannot be probed.
    if app is None or not can_view(principal, app):
        raise NotFound(
            f"no application '{id_or_reference}' that you can see; "
            "check the id or CAAS-YYYY-NNNNNN reference, "
            "or call list_applications to find it"
        )
    return _view(app)


async def list_applications(
    deps: ApplicationDeps, principal: Principal, query: ListApplications
) -> ApplicationPage:
    borrower_id, created_by = visibility_filter(principal)
    if query.borrower_id is not None:
        if borrower_id is not None and query.borrower_id != borrower_id:
            raise PermissionDenied("borrowers can only list their own applications; leave borrower_id out")
        borrower_id = query.borrower_id
    rows = await deps.reader.list(
        ApplicationQuery(
            statuses=[s.value for s in query.status] if query.status else None,
            borrower_id=borrower_id,
            created_by=created_by,
            created_from=query.created_from,
            created_to=query.created_to,
            after=decode_cursor(query.cursor) if query.cursor else None,
            limit=query.limit + 1,  # one extra row tells whether another page exists
        )
    )
    page = rows[: query.limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > query.limit else None
    return ApplicationPage(items=[_summary(a) for a in page], next_cursor=next_cursor)


def _money(minor: int, currency: str) -> Money:
    return Money(amount=from_minor(minor, currency), currency=currency)


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
    }


def _summary(app: ApplicationRecord) -> ApplicationSummary:
    return ApplicationSummary.model_validate(_summary_fields(app))


def _view(app: ApplicationRecord) -> ApplicationView:
    return ApplicationView.model_validate(
        {
            **_summary_fields(app),
            "applicant": ApplicantView(
                full_name=app.applicant_name,
                email=app.applicant_email,
                phone=app.applicant_phone,
                country=app.applicant_country,
            ),
            "purpose_detail": app.purpose_detail,
            "monthly_income": _money(app.monthly_income_minor, app.currency),
            "monthly_obligations": _money(app.monthly_obligations_minor, app.currency),
            "employment": EmploymentView(
                status=app.employment_status,
                employer_name=app.employer_name,
                months_in_employment=app.months_in_employment,
            ),
            "created_by": app.created_by,
            "updated_at": app.updated_at,
        }
    )
