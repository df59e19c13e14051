"""Use cases for credit applications: draft, update, submit, withdraw, read, list, timeline, expire."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from tools.credit.access import can_view, visibility_filter
from tools.credit.domain.applications import ApplicationRecord, NewApplication, Transition
from tools.credit.domain.kyc import unproven_by_change
from tools.credit.domain.lifecycle import HOLDS_CAPITAL, ApplicationStatus
from tools.credit.domain.maker_checker import maker_steps, step_of
from tools.credit.lifecycle import expire_stale, locked_application, not_found, transition
from tools.credit.models.applications import (
    ApplicationPage,
    ApplicationTimeline,
    ApplicationView,
    DraftApplication,
    DraftChanges,
    ListApplications,
    MakerChecker,
    MakerView,
    SubmitApplication,
    TimelineEntry,
)
from tools.credit.personal_data import Sealed, national_id_index, seal, unseal
from tools.credit.ports import ApplicationQuery, CreditDeps
from tools.credit.views import application_summary, application_view
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.domain.money import from_minor, to_minor
from tools.platform.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from tools.platform.idempotency import claim_or_replay, request_sha256
from tools.platform.models import describe_validation_error
from tools.platform.payable import check_payable
from tools.platform.ports import AuditRecord, IdempotencyClaim, Invocation, PersonalDataVault
from tools.platform.principal import Principal, Role

__all__ = [
    "draft_application",
    "expire_stale_applications",
    "get_application",
    "get_application_timeline",
    "list_applications",
    "submit_application",
    "update_application",
    "withdraw_application",
]


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


def _minor(value: Any, currency: str) -> int | None:
    return None if value is None else to_minor(value, currency)


def _new_application(
    principal: Principal,
    borrower_id: str,
    cmd: SubmitApplication | DraftApplication,
    sealed: Sealed,
) -> NewApplication:
    """``sealed``: ``cmd.applicant``'s personal data, sealed (``seal``)."""
    employment = cmd.employment
    return NewApplication(
        borrower_id=borrower_id,
        created_by=principal.subject,
        created_by_role=principal.role.value,
        status=(
            ApplicationStatus.SUBMITTED if isinstance(cmd, SubmitApplication) else ApplicationStatus.DRAFT
        ).value,
        applicant_name=cmd.applicant.full_name,
        applicant_email=str(cmd.applicant.email),
        applicant_phone=cmd.applicant.phone,
        applicant_country=cmd.applicant.country,
        currency=cmd.currency,
        requested_amount_minor=_minor(cmd.amount, cmd.currency),
        term_months=cmd.term_months,
        purpose=cmd.purpose.value if cmd.purpose else None,
        purpose_detail=cmd.purpose_detail,
        monthly_income_minor=_minor(cmd.monthly_income, cmd.currency),
        monthly_obligations_minor=_minor(cmd.monthly_obligations, cmd.currency),
        employment_status=employment.status.value if employment else None,
        employer_name=employment.employer_name if employment else None,
        months_in_employment=employment.months_in_employment if employment else 0,
        date_of_birth_encrypted=sealed.date_of_birth_encrypted,
        national_id_encrypted=sealed.national_id_encrypted,
        national_id_index=sealed.national_id_index,
        bank_account_encrypted=sealed.bank_account_encrypted,
    )


def _as_fields(app: ApplicationRecord, vault: PersonalDataVault) -> dict[str, Any]:
    """A stored application as the fields of a Draft/SubmitApplication, for merging and re-validation."""

    def amount(minor: int | None) -> Any:
        return None if minor is None else from_minor(minor, app.currency)

    personal = unseal(vault, app)

    fields: dict[str, Any] = {
        "borrower_id": app.borrower_id,
        "applicant": {
            "full_name": app.applicant_name,
            "email": app.applicant_email,
            "phone": app.applicant_phone,
            "country": app.applicant_country,
            "date_of_birth": personal.date_of_birth,
            "national_id": personal.national_id,
            "bank_account": personal.bank_account.model_dump() if personal.bank_account else None,
        },
        "currency": app.currency,
        "amount": amount(app.requested_amount_minor),
        "term_months": app.term_months,
        "purpose": app.purpose,
        "purpose_detail": app.purpose_detail,
        "monthly_income": amount(app.monthly_income_minor),
        "monthly_obligations": amount(app.monthly_obligations_minor),
        "employment": None,
    }
    if app.employment_status is not None:
        fields["employment"] = {
            "status": app.employment_status,
            "employer_name": app.employer_name,
            "months_in_employment": app.months_in_employment,
        }
    return {k: v for k, v in fields.items() if v is not None}


async def _replay(deps: CreditDeps, principal: Principal, resource_id: str) -> ApplicationView:
    app = await deps.applications.get(resource_id)
    if app is None:  # pragma: no cover - the key row points at a committed application
        raise NotFound("the application recorded for this idempotency_key no longer exists")
    return application_view(app, principal, deps.vault, deps.clock.today()).model_copy(
        update={"replayed": True}
    )


async def submit_application(
    deps: CreditDeps,
    call: Invocation,
    cmd: SubmitApplication | None = None,
    draft: str | None = None,
    idempotency_key: str | None = None,
) -> ApplicationView:
    """Submit a complete application, or a draft (by id or reference) once it is complete."""
    if (cmd is None) == (draft is None):
        raise InvalidArgument(
            "give either application (a complete application) or draft (a draft's id), not both"
        )
    principal = call.principal
    new, sealed = None, None
    if cmd is not None:
        check_payable(deps.payable_currencies, cmd.currency, "the application")
        borrower_id = _borrower_for(principal, cmd.borrower_id)
        sealed = seal(deps.vault, cmd.applicant)
        new = _new_application(principal, borrower_id, cmd, sealed)
    # A new application without a key is one statement: the row, its timeline, audit and event.
    async with deps.uow(single_statement=new is not None and idempotency_key is None) as uow:
        claim = None
        if idempotency_key is not None:
            # Its values, not their text: "250000" is the same application as "250000.00".
            arguments = {"application": cmd.model_dump() if cmd else None, "draft": draft}
            claim = IdempotencyClaim(
                principal.subject, "submit_application", idempotency_key, request_sha256(arguments)
            )
            earlier = await claim_or_replay(uow, claim)
            if earlier is not None:
                return await _replay(deps, principal, earlier)
        if new is not None:
            app = await uow.applications.insert(new, "submitted", call)
        else:
            assert draft is not None
            stored = await locked_application(uow, principal, draft)
            check_payable(deps.payable_currencies, stored.currency, f"draft {stored.reference}")
            if stored.status == ApplicationStatus.DRAFT:
                try:
                    SubmitApplication.model_validate(_as_fields(stored, deps.vault))
                except ValidationError as exc:
                    raise InvalidArgument(
                        f"draft {stored.reference} is not complete yet: {describe_validation_error(exc)}; "
                        "fill these in with update_application, then submit again"
                    ) from None
            app = await transition(
                uow, call, stored, ApplicationStatus.SUBMITTED, "submitted by the borrower"
            )
        if claim is not None:
            await uow.complete_idempotency_key(claim, str(app.id))
    clear = sealed.clear if sealed is not None else None  # a new application's, never a draft's
    return application_view(app, call.principal, deps.vault, deps.clock.today(), clear)


async def draft_application(deps: CreditDeps, call: Invocation, cmd: DraftApplication) -> ApplicationView:
    principal = call.principal
    borrower_id = _borrower_for(principal, cmd.borrower_id)
    sealed = seal(deps.vault, cmd.applicant)
    new = _new_application(principal, borrower_id, cmd, sealed)
    async with deps.uow(single_statement=True) as uow:
        app = await uow.applications.insert(new, "draft saved", call)
    return application_view(app, call.principal, deps.vault, deps.clock.today(), sealed.clear)


async def update_application(
    deps: CreditDeps, call: Invocation, id_or_reference: str, changes: DraftChanges
) -> ApplicationView:
    """Change fields of a draft; anything past draft is a conflict naming its state."""
    async with deps.uow() as uow:
        stored = await locked_application(uow, call.principal, id_or_reference)
        if stored.status != ApplicationStatus.DRAFT:
            raise Conflict(
                f"{stored.reference} is {stored.status}; only a draft can be changed. "
                "Withdraw it and file a new application instead"
            )
        before = _as_fields(stored, deps.vault)
        merged = before | changes.model_dump(exclude_unset=True, mode="json")
        try:
            draft = DraftApplication.model_validate(merged)
        except ValidationError as exc:
            raise InvalidArgument(f"the draft would be invalid: {describe_validation_error(exc)}") from None
        # What its verified documents proved, compared in one form: a change undoes their verification.
        unproven = unproven_by_change(_comparable(before), draft.model_dump(mode="json"))
        app = await uow.applications.update_draft(
            stored.id,
            _new_application(call.principal, stored.borrower_id, draft, seal(deps.vault, draft.applicant)),
            call.principal,
        )
        await uow.documents.reopen(app.id, unproven, call)
        await uow.record(AuditRecord(call, "application", str(app.id)))
    return application_view(app, call.principal, deps.vault, deps.clock.today())


def _comparable(fields: dict[str, Any]) -> dict[str, Any]:
    """Stored fields as a draft dumps them; a row today's rules refuse compares unlike any draft."""
    try:
        return DraftApplication.model_validate(fields).model_dump(mode="json")
    except ValidationError:
        return {}


# The staff who may end an application holding an accepted offer, as they may cancel its loan.
STAFF_WHO_END = (Role.OPERATOR, Role.ADMIN)


async def withdraw_application(
    deps: CreditDeps, call: Invocation, id_or_reference: str, reason: str
) -> ApplicationView:
    async with deps.uow() as uow:
        stored = await locked_application(uow, call.principal, id_or_reference)
        if stored.status in HOLDS_CAPITAL and call.principal.role not in (Role.BORROWER, *STAFF_WHO_END):
            # As cancel_loan: giving up an accepted offer is the borrower's act (or a person's for them).
            raise PermissionDenied(
                f"{stored.reference} has an accepted offer: withdrawing it is the borrower's own decision, "
                "or an operator's on their behalf; ask the borrower to withdraw it"
            )
        if stored.status == ApplicationStatus.APPROVED and await uow.applications.has_loan(stored.id):
            # Its loan holds the lender's capital: they end together, or not at all. Without a loan yet
            # (approved, not originated) it is withdrawn like an accepted one.
            raise Conflict(
                f"{stored.reference} is approved and its loan originated; cancel the loan instead "
                "(cancel_loan, the borrower or an operator) while no payout has succeeded, which withdraws "
                "the application"
            )
        app = await transition(uow, call, stored, ApplicationStatus.WITHDRAWN, reason)
    return application_view(app, call.principal, deps.vault, deps.clock.today())


async def get_application(deps: CreditDeps, principal: Principal, id_or_reference: str) -> ApplicationView:
    app = await deps.applications.get(id_or_reference)
    if app is None or not can_view(principal, app):
        raise not_found(id_or_reference)
    return application_view(app, principal, deps.vault, deps.clock.today())


async def get_application_timeline(
    deps: CreditDeps, principal: Principal, id_or_reference: str
) -> ApplicationTimeline:
    app = await deps.applications.get(id_or_reference)
    if app is None or not can_view(principal, app):
        raise not_found(id_or_reference)
    entries = await deps.applications.timeline(app.id)
    return ApplicationTimeline(
        application_id=app.id,
        reference=app.reference,
        status=ApplicationStatus(app.status),
        entries=[TimelineEntry.model_validate(e, from_attributes=True) for e in entries],
        maker_checker=await _maker_checker(deps, app, entries, principal),
    )


async def _maker_checker(
    deps: CreditDeps, app: ApplicationRecord, entries: Sequence[Transition], principal: Principal
) -> MakerChecker | None:
    """What approve_application's maker-checker rule says about ``principal``, shown to staff who check,
    with the accepted offer's deadline (approval after it is refused)."""
    if principal.role not in (Role.OPERATOR, Role.ADMIN):
        return None
    steps = maker_steps(app, entries)
    mine = step_of(steps, principal.subject)
    holds = ApplicationStatus(app.status) in HOLDS_CAPITAL
    valid_until = await deps.applications.offer_valid_until(app.id) if holds else None
    lapsed = valid_until is not None and valid_until <= deps.clock.now()
    return MakerChecker(
        makers=[MakerView(subject=s.subject, step=s.step, at=s.at) for s in steps],
        you_made=mine,
        you_may_approve=mine is None and app.status == ApplicationStatus.OFFER_ACCEPTED and not lapsed,
        offer_valid_until=valid_until,
    )


async def list_applications(
    deps: CreditDeps, principal: Principal, query: ListApplications
) -> ApplicationPage:
    borrower_id, created_by = visibility_filter(principal)
    if query.borrower_id is not None:
        if borrower_id is not None and query.borrower_id != borrower_id:
            raise PermissionDenied("borrowers can only list their own applications; leave borrower_id out")
        borrower_id = query.borrower_id
    index = None
    if query.national_id is not None:
        if not principal.is_staff:
            raise PermissionDenied("only operators, admins and services can search by national id")
        index = national_id_index(deps.vault, query.national_id)
    # The national id's index, never the id itself: a cursor may end up in a log.
    scope = keyset(
        "applications",
        statuses=query.status,
        borrower=query.borrower_id,
        national_id=index,
        created_from=query.created_from,
        created_to=query.created_to,
    )
    rows = await deps.applications.list(
        ApplicationQuery(
            statuses=[s.value for s in query.status] if query.status else None,
            borrower_id=borrower_id,
            created_by=created_by,
            created_from=query.created_from,
            created_to=query.created_to,
            after=decode_cursor(scope, query.cursor) if query.cursor else None,
            national_id_index=index,
            limit=query.limit + 1,  # one extra row tells whether another page exists
        )
    )
    page = rows[: query.limit]
    next_cursor = encode_cursor(scope, page[-1].created_at, page[-1].id) if len(rows) > query.limit else None
    return ApplicationPage(items=[application_summary(a) for a in page], next_cursor=next_cursor)


async def expire_stale_applications(deps: CreditDeps, call: Invocation, limit: int = 500) -> list[str]:
    """Expire applications open for bids longer than the bidding window; returns their references."""
    async with deps.uow() as uow:
        expired = await expire_stale(uow, call, deps.clock.now(), deps.bidding_window, limit)
    return [a.reference for a in expired]
