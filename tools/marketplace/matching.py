"""Use cases of matching: rank the eligible providers of an open application, invite them, explain
exclusions; and list invitations (a provider its own, staff any).

The candidate search is one indexed query (``ProviderReader.candidates``); the rules and the fit score
are documented in ``tools.marketplace.domain.matching``. Inviting happens in one transaction with the
application row locked (and its bidding round open): the invitations (unique per application and
provider), one ``provider.invited`` event per new invitation and the audit row commit together, so
matching twice, or twice at once, invites each provider once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from tools.credit.access import can_view
from tools.credit.domain.applications import ApplicationRecord
from tools.credit.domain.lifecycle import ApplicationStatus
from tools.credit.lifecycle import locked_application, not_found
from tools.marketplace.domain.matching import Fit, MatchRequest, fit_score, unmet_criteria
from tools.marketplace.domain.providers import InvitationRecord, NewInvitation, ProviderRecord, ProviderType
from tools.marketplace.invitations import open_round
from tools.marketplace.models.matching import (
    FitView,
    InvitationPage,
    InvitationStatus,
    InvitationView,
    MatchCriteria,
    MatchReport,
    ProviderExplanation,
    RankedProvider,
    UnmetCriterionView,
)
from tools.marketplace.ports import (
    Candidates,
    InvitationQuery,
    MarketplaceDeps,
    RankedCandidate,
)
from tools.platform.cursor import decode_cursor, encode_cursor, keyset
from tools.platform.domain.money import from_minor
from tools.platform.errors import Conflict, PermissionDenied
from tools.platform.models import Money
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role
from tools.risk.ports import StoredAssessment

__all__ = ["MarketplaceDeps", "invite_providers", "list_invitations", "match_providers"]


def _dec(value: float, places: int) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _fit_view(fit: Fit, total: float | None = None) -> FitView:
    return FitView(
        score=_dec(fit.score if total is None else total, 2),
        rate=_dec(fit.rate, 4),
        capital=_dec(fit.capital, 4),
        approval=_dec(fit.approval, 4),
    )


def match_request(app: ApplicationRecord, assessment: StoredAssessment) -> MatchRequest:
    result = assessment.result
    band = result["suggested_rate_band"]
    assert app.requested_amount_minor is not None and app.term_months is not None  # past draft
    return MatchRequest(
        currency=app.currency,
        country=app.applicant_country,
        amount_minor=app.requested_amount_minor,
        term_months=app.term_months,
        grade=str(result["grade"]),
        score=int(result["score"]),
        dti=Decimal(str(result["dti_after"])),
        band_min_rate=Decimal(str(band["min_annual_rate"])),
        band_max_rate=Decimal(str(band["max_annual_rate"])),
    )


def _require_open(app: ApplicationRecord) -> None:
    if app.status != ApplicationStatus.OPEN_FOR_BIDS:
        raise Conflict(
            f"{app.reference} is {app.status}; providers are matched only while an application is "
            "open_for_bids"
        )


def _candidate_fit(c: RankedCandidate, request: MatchRequest) -> Fit:
    return fit_score(
        c.min_annual_rate,
        c.max_annual_rate,
        c.capital_available_minor,
        c.approved_count,
        c.decided_count,
        request,
    )


def _invited_event(
    app: ApplicationRecord,
    request: MatchRequest,
    assessment: StoredAssessment,
    invitation_id: UUID,
    invitation: NewInvitation,
    closes: str,
) -> OutboxEvent:
    # What a provider needs to decide whether to bid, and nothing personal.
    return OutboxEvent(
        aggregate_type="provider",
        aggregate_id=str(invitation.provider_id),
        event_type="provider.invited",
        payload={
            "invitation_id": str(invitation_id),
            "provider_id": str(invitation.provider_id),
            "application_id": str(app.id),
            "reference": app.reference,
            "currency": request.currency,
            "amount": str(from_minor(request.amount_minor, request.currency)),
            "term_months": request.term_months,
            "purpose": app.purpose,
            "country": request.country,
            "grade": request.grade,
            "score": request.score,
            "dti": str(request.dti),
            "assessment_id": str(assessment.id),
            "rank": invitation.rank,
            "fit_score": str(invitation.fit_score),
            "bidding_closes_at": closes,
        },
    )


async def _application(
    deps: MarketplaceDeps, principal: Principal, handle: str
) -> tuple[ApplicationRecord, StoredAssessment]:
    app = await deps.applications.get(handle)
    if app is None or not can_view(principal, app):
        raise not_found(handle)
    _require_open(app)
    assessment = await deps.risk.latest_assessment(app.id)
    if assessment is None:  # pragma: no cover - opening for bids always follows an assessment
        raise Conflict(f"{app.reference} has no risk assessment; score it before matching providers")
    return app, assessment


async def match_providers(
    deps: MarketplaceDeps, call: Invocation, handle: str, explain: Sequence[UUID] = (), limit: int = 10
) -> MatchReport:
    """The ranking of an open application's eligible providers; changes nothing."""
    app, assessment = await _application(deps, call.principal, handle)
    request = match_request(app, assessment)
    found = await deps.providers.candidates(request, limit)
    ids = await deps.providers.invited(app.id)
    return await _report(deps, app, assessment, request, found, [], ids, explain, limit, invited=False)


async def invite_providers(
    deps: MarketplaceDeps, call: Invocation, handle: str, explain: Sequence[UUID] = (), limit: int = 10
) -> MatchReport:
    """Ranks as ``match_providers`` and invites the ranked providers (each once)."""
    app, assessment = await _application(deps, call.principal, handle)
    app, request, found, created, ids = await _invite(deps, call, app, assessment, limit)
    return await _report(deps, app, assessment, request, found, created, ids, explain, limit, invited=True)


async def _report(
    deps: MarketplaceDeps,
    app: ApplicationRecord,
    assessment: StoredAssessment,
    request: MatchRequest,
    found: Candidates,
    created: list[tuple[UUID, UUID]],
    invited_ids: set[UUID],
    explain: Sequence[UUID],
    limit: int,
    *,
    invited: bool,
) -> MatchReport:
    new = {pid for _, pid in created}
    ranking = [
        _ranked_provider(rank, c, request, app.currency, invited_ids, new)
        for rank, c in enumerate(found.ranked, start=1)
    ]
    return MatchReport(
        application_id=app.id,
        reference=app.reference,
        criteria=_criteria(request, assessment),
        more_eligible=found.more,
        ranking=ranking,
        explanations=await _explain(deps, request, found, explain, invited_ids, limit),
        invited=invited,
        invitations_created=len(created),
    )


async def _invite(
    deps: MarketplaceDeps,
    call: Invocation,
    app: ApplicationRecord,
    assessment: StoredAssessment,
    limit: int,
) -> tuple[ApplicationRecord, MatchRequest, Candidates, list[tuple[UUID, UUID]], set[UUID]]:
    """Ranks and invites with the application locked, in one transaction: the application as locked, its
    request, the candidates, the (invitation, provider) pairs created and every provider it invited."""
    async with deps.uow() as uow:
        app = await locked_application(uow, call.principal, str(app.id))
        _require_open(app)  # it may have moved on since it was read
        rnd = await open_round(uow, app, deps.bidding_window)  # lenders are told when it closes
        request = match_request(app, assessment)
        found = await uow.providers.candidates(request, limit)
        invitations = [
            NewInvitation(c.provider_id, rank, _dec(c.fit_score, 2))
            for rank, c in enumerate(found.ranked, start=1)
        ]
        by = call.principal.subject
        created, invited_ids = await uow.providers.invite(app.id, assessment.id, invitations, by)
        by_provider = {i.provider_id: i for i in invitations}
        closes = rnd.closes_at.isoformat()
        events = [
            _invited_event(app, request, assessment, inv_id, by_provider[pid], closes)
            for inv_id, pid in sorted(created, key=lambda x: by_provider[x[1]].rank)
        ]
        await uow.record(AuditRecord(call, "application", str(app.id)), events)
    return app, request, found, created, invited_ids


def _ranked_provider(
    rank: int, c: RankedCandidate, request: MatchRequest, currency: str, invited: set[UUID], new: set[UUID]
) -> RankedProvider:
    return RankedProvider(
        rank=rank,
        provider_id=c.provider_id,
        name=c.name,
        provider_type=ProviderType(c.provider_type),
        fit=_fit_view(_candidate_fit(c, request), c.fit_score),
        min_annual_rate=c.min_annual_rate,
        max_annual_rate=c.max_annual_rate,
        capital_available=Money(amount=from_minor(c.capital_available_minor, currency), currency=currency),
        invited=c.provider_id in invited,
        newly_invited=c.provider_id in new,
    )


def _criteria(request: MatchRequest, assessment: StoredAssessment) -> MatchCriteria:
    band = {"min_annual_rate": request.band_min_rate, "max_annual_rate": request.band_max_rate}
    return MatchCriteria(
        currency=request.currency,
        country=request.country,
        amount=Money(amount=from_minor(request.amount_minor, request.currency), currency=request.currency),
        term_months=request.term_months,
        grade=request.grade,
        score=request.score,
        dti=request.dti,
        rate_band=band,
        assessment_id=assessment.id,
    )


async def _explain(
    deps: MarketplaceDeps,
    request: MatchRequest,
    found: Candidates,
    asked: Sequence[UUID],
    invited: set[UUID],
    limit: int,
) -> list[ProviderExplanation]:
    """Why each asked-about provider is in or out: the rules applied to it in Python, one by one."""
    if not asked:
        return []
    records = {p.id: p for p in await deps.providers.get_many(list(dict.fromkeys(asked)))}
    ranks = {c.provider_id: rank for rank, c in enumerate(found.ranked, start=1)}
    out: list[ProviderExplanation] = []
    for provider_id in dict.fromkeys(asked):
        p = records.get(provider_id)
        if p is None:
            out.append(_unknown_provider(provider_id))
        else:
            out.append(_explanation(p, request, ranks.get(p.id), invited, limit))
    return out


def _unknown_provider(provider_id: UUID) -> ProviderExplanation:
    return ProviderExplanation(
        provider_id=provider_id,
        found=False,
        name=None,
        eligible=False,
        rank=None,
        fit=None,
        invited=False,
        unmet=[],
        note="no provider has this id",
    )


def _explanation(
    p: ProviderRecord, request: MatchRequest, rank: int | None, invited: set[UUID], limit: int
) -> ProviderExplanation:
    unmet = unmet_criteria(p, request)
    fit = None
    if unmet:
        note = f"excluded: {len(unmet)} criteri{'on' if len(unmet) == 1 else 'a'} not met"
    else:
        fit = _fit_view(
            fit_score(
                p.min_annual_rate,
                p.max_annual_rate,
                p.capital_available_minor,
                p.approved_count,
                p.decided_count,
                request,
            )
        )
        note = (
            f"eligible, ranked {rank}"
            if rank is not None
            else f"eligible, but below the best {limit} by fit score; raise limit to rank it"
        )
    return ProviderExplanation(
        provider_id=p.id,
        found=True,
        name=p.name,
        eligible=not unmet,
        rank=rank,
        fit=fit,
        invited=p.id in invited,
        unmet=[
            UnmetCriterionView(criterion=u.criterion, required=u.required, actual=u.actual, message=u.message)
            for u in unmet
        ],
        note=note,
    )


def _invitation_view(i: InvitationRecord, window: timedelta) -> InvitationView:
    return InvitationView(
        id=i.id,
        application_id=i.application_id,
        reference=i.reference,
        application_status=i.application_status,
        provider_id=i.provider_id,
        provider_name=i.provider_name,
        status=InvitationStatus(i.status),
        rank=i.rank,
        fit_score=i.fit_score,
        requested_amount=Money.from_minor(i.requested_amount_minor, i.currency),
        term_months=i.term_months,
        purpose=i.purpose,
        country=i.country,
        grade=i.grade,
        score=i.score,
        dti=i.dti,
        invited_at=i.invited_at,
        bidding_closes_at=i.bidding_closes_at(window),
    )


async def list_invitations(
    deps: MarketplaceDeps,
    principal: Principal,
    provider_id: UUID | None,
    application: str | None,
    statuses: Sequence[InvitationStatus] | None,
    limit: int,
    cursor: str | None,
) -> InvitationPage:
    """A provider lists its own invitations; staff list anyone's, optionally by provider or application."""
    if principal.role is Role.PROVIDER:
        own = principal.provider_id
        if own is None:
            raise PermissionDenied("your token carries no provider_id; ask the operator for a provider token")
        if provider_id is not None and str(provider_id) != own:
            raise PermissionDenied("providers can only list their own invitations; leave provider out")
        try:
            provider_id = UUID(own)
        except ValueError:
            return InvitationPage(items=[], next_cursor=None)
    application_id = None
    if application is not None:
        app = await deps.applications.get(application)
        if app is None:
            if principal.role is Role.PROVIDER:  # no hint about applications it was not invited to
                return InvitationPage(items=[], next_cursor=None)
            raise not_found(application)
        application_id = app.id
    scope = keyset("invitations", provider=provider_id, application=application_id, statuses=statuses)
    rows = await deps.providers.invitations(
        InvitationQuery(
            provider_id=provider_id,
            application_id=application_id,
            statuses=[s.value for s in statuses] if statuses else None,
            after=decode_cursor(scope, cursor) if cursor else None,
            limit=limit + 1,
        )
    )
    page, window = rows[:limit], deps.bidding_window
    next_cursor = encode_cursor(scope, page[-1].invited_at, page[-1].id) if len(rows) > limit else None
    return InvitationPage(items=[_invitation_view(i, window) for i in page], next_cursor=next_cursor)
