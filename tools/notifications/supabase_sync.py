"""The ``supabase_sync`` queue: outbox events into the borrower-facing Supabase tables.

Each job is one event of one application (the queue runs an application's jobs one at a time, in
the order their events were written); a claimed batch, one job per application, is written at once
(``StatusMirror.apply_events``: a few round trips for the batch instead of several per job).
It moves the ``application_status`` mirror forward (status, progress percentage from
``tools.notifications.domain.progress``, loan and payment state), mirrors document metadata into
``document_uploads``, and appends one ``user_activities`` line.

Delivery is at least once: a job can run again after a crash between its writes and its
completion. Every write is therefore conditional or keyed: the mirror row carries the sequence (the
job id) of the last event applied and ignores one that is not newer, and an activity is keyed by
its event id. A retried job that already wrote its status still writes whatever it had not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from tools.notifications.domain.progress import application_progress, loan_progress
from tools.notifications.ports import (
    ApplicationSnapshot,
    Applied,
    DocumentChange,
    MirrorEvent,
    MirrorSources,
    MirrorUnavailable,
    StatusUpdate,
    SyncResult,
)
from tools.platform.jobs import BatchHandler, Job, PermanentFailure, RetryLater

__all__ = ["QUEUE", "SyncResult", "mirror_event", "sync_event", "sync_events", "sync_handler"]

log = logging.getLogger("caas.supabase_sync")

QUEUE = "supabase_sync"
# What of an event's payload the borrower's activity feed shows. Free text (a decision's reason)
# stays out: it may carry personal data about someone else, and the feed is the borrower's to read.
_ACTIVITY_KEYS = (
    "reference",
    "status",
    "from_status",
    "loan_id",
    "payment_id",
    "kind",
    "document_type",
    "currency",
    "amount",
    "amount_minor",
    "principal",
    "status_after",
    "term_months",
)
_OCCURRED_KEYS = ("occurred_at", "decided_at", "registered_at", "paid_at")


def sync_handler(deps: MirrorSources) -> BatchHandler:
    """The queue's handler: a claimed batch (one job per application) applied at once."""

    async def run(jobs: list[Job]) -> list[Exception | None]:
        return [None if isinstance(r, SyncResult) else r for r in await sync_events(deps, jobs)]

    return BatchHandler(run)


async def sync_events(deps: MirrorSources, jobs: list[Job]) -> list[SyncResult | Exception]:
    """Apply the jobs' events together (``StatusMirror.apply_events``); each job's outcome in order: its
    result, or what fails it (``PermanentFailure``: it can never apply; ``RetryLater``: the mirror is
    down). A batch write that fails otherwise (a row the mirror refuses) is done again job by job, so
    only the jobs at fault fail. Events of one application (never in one claim) go one by one, in order."""
    outcomes: list[SyncResult | Exception | None] = [None] * len(jobs)
    planned: list[tuple[int, MirrorEvent]] = []
    for i, job in enumerate(jobs):
        try:
            planned.append((i, mirror_event(job)))
        except PermanentFailure as exc:
            outcomes[i] = exc
    events = [e for _, e in planned]
    if len({e.application_id for e in events}) < len(events):
        results = [await _one_by_one(deps, jobs[i]) for i, _ in planned]
    else:
        try:
            results = list(await deps.mirror.apply_events(events)) if events else []
        except MirrorUnavailable as exc:
            results = [RetryLater(f"supabase mirror unavailable: {exc}") for _ in events]
        except Exception as exc:
            log.warning("mirror refused %d events at once (%s): one by one", len(events), type(exc).__name__)
            results = [await _one_by_one(deps, jobs[i]) for i, _ in planned]
    for (i, event), result in zip(planned, results, strict=True):
        if isinstance(result, SyncResult):
            _observe(deps, jobs[i], event, result)
        outcomes[i] = result
    return [o if o is not None else RuntimeError("no outcome") for o in outcomes]


async def _one_by_one(deps: MirrorSources, job: Job) -> SyncResult | Exception:
    try:
        return await _apply_alone(deps, mirror_event(job))
    except Exception as exc:
        return exc


async def sync_event(deps: MirrorSources, job: Job) -> SyncResult:
    """Apply one job's event to the mirror, write by write; safe to run any number of times."""
    event = mirror_event(job)
    result = await _apply_alone(deps, event)
    _observe(deps, job, event, result)
    return result


async def _apply_alone(deps: MirrorSources, e: MirrorEvent) -> SyncResult:
    mirror = deps.mirror
    try:
        status = None if e.status is None else await mirror.apply_status(e.status)
        document = None
        if e.document is not None:
            owner = await mirror.borrower_of(e.application_id)
            update = None if owner is None else e.document_update(owner)
            document = Applied.MISSING if update is None else await mirror.apply_document(update)
        user_id = e.borrower_id or await mirror.borrower_of(e.application_id)
        activity = False
        if user_id is not None:
            if e.new_borrower:
                await mirror.ensure_profile(user_id)
            activity = await mirror.record_activity(e.activity(user_id))
    except MirrorUnavailable as exc:
        raise RetryLater(f"supabase mirror unavailable: {exc}") from None
    return SyncResult(status, document, activity)


def _observe(deps: MirrorSources, job: Job, event: MirrorEvent, result: SyncResult) -> None:
    if result.status == Applied.MISSING:
        log.info("no mirror row for %s job %d: its application was never mirrored", job.event_type, job.id)
    if Applied.APPLIED in (result.status, result.document) or result.activity:
        deps.observe_lag(max(0.0, (deps.clock.now() - event.occurred_at).total_seconds()))


def mirror_event(job: Job) -> MirrorEvent:
    """Every write of the job's event; ``PermanentFailure`` when it lacks what the mirror needs."""
    if job.event_id is None:
        raise PermanentFailure(f"{job.event_type} job {job.id} has no event id to deduplicate on")
    p = job.payload
    application_id = _uuid(p.get("application_id"), "application_id", job)
    occurred_at = _occurred_at(p, job)
    document = None
    if job.event_type.startswith("document."):
        document = DocumentChange(
            document_id=_uuid(p.get("document_id"), "document_id", job),
            kind=_required(p, "document_type", job),
            status=_required(p, "status", job),
        )
    return MirrorEvent(
        event_id=job.event_id,
        event_type=job.event_type,
        application_id=application_id,
        sequence=job.id,
        occurred_at=occurred_at,
        status=_status_update(job, application_id, occurred_at),
        document=document,
        borrower_id=_text(p.get("borrower_id")),
        new_borrower=job.event_type.startswith("application."),
        detail={k: p[k] for k in _ACTIVITY_KEYS if p.get(k) is not None},
    )


def _status_update(job: Job, application_id: UUID, occurred_at: datetime) -> StatusUpdate | None:
    p = job.payload
    common: dict[str, Any] = {
        "application_id": application_id,
        "sequence": job.id,
        "event_id": job.event_id,
        "event_type": job.event_type,
        "occurred_at": occurred_at,
    }
    family = job.event_type.split(".", 1)[0]
    if family == "application":
        status = _required(p, "status", job)
        snapshot = ApplicationSnapshot(
            reference=_required(p, "reference", job),
            borrower_id=_required(p, "borrower_id", job),
            status=status,
            requested_amount=_decimal(p.get("amount"), job),
            currency=_required(p, "currency", job),
            term_months=_int(p.get("term_months")),
        )
        return StatusUpdate(**common, application=snapshot, progress_percent=application_progress(status))
    if family == "loan":
        # A repayment names the loan's status after it (a paid-off loan is closed: 100%).
        loan_status = _text(p.get("status")) or _text(p.get("status_after"))
        return StatusUpdate(
            **common,
            progress_percent=None if loan_status is None else loan_progress(loan_status),
            loan_id=_optional_uuid(p.get("loan_id"), "loan_id", job),
            loan_status=loan_status,
        )
    if family == "payment":
        return StatusUpdate(
            **common,
            loan_id=_optional_uuid(p.get("loan_id"), "loan_id", job),
            payment_status=_payment_status(job.event_type, p),
        )
    return None  # offer.accepted, document.*: the application's own event carries the status


def _payment_status(event_type: str, p: Mapping[str, Any]) -> str:
    # "disbursement_succeeded", "collection_sent": what the borrower's money is doing.
    status = _text(p.get("status")) or event_type.split(".", 1)[1]
    kind = _text(p.get("kind"))
    return f"{kind}_{status}" if kind else status


def _occurred_at(p: Mapping[str, Any], job: Job) -> datetime:
    for key in _OCCURRED_KEYS:
        raw = p.get(key)
        if isinstance(raw, str):
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                continue
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return job.created_at  # when the relay queued it: a little late, never early


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _required(p: Mapping[str, Any], key: str, job: Job) -> str:
    value = _text(p.get(key))
    if value is None:
        raise PermanentFailure(f"{job.event_type} job {job.id} has no {key}")
    return value


def _uuid(value: Any, key: str, job: Job) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise PermanentFailure(f"{job.event_type} job {job.id} has no valid {key}") from None


def _optional_uuid(value: Any, key: str, job: Job) -> UUID | None:
    return None if value is None else _uuid(value, key, job)


def _decimal(value: Any, job: Job) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise PermanentFailure(f"{job.event_type} job {job.id} has an amount that is not a number") from None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
