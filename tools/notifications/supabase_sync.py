"""The ``supabase_sync`` queue: outbox events into the borrower-facing Supabase tables.

Each job is one event of one application (the queue runs an application's jobs one at a time, in
the order their events were written). It moves the ``application_status`` mirror forward (status,
progress percentage from ``tools.notifications.domain.progress``, loan and payment state), mirrors document
metadata into ``document_uploads``, and appends one ``user_activities`` line.

Delivery is at least once: a job can run again after a crash between its writes and its
completion. Every write is therefore conditional or keyed: the mirror row carries the sequence (the
job id) of the last event applied and ignores one that is not newer, and an activity is keyed by
its event id. A retried job that already wrote its status still writes whatever it had not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from tools.notifications.domain.progress import application_progress, loan_progress
from tools.notifications.ports import (
    Activity,
    ApplicationSnapshot,
    Applied,
    DocumentUpdate,
    MirrorSources,
    MirrorUnavailable,
    StatusMirror,
    StatusUpdate,
)
from tools.platform.jobs import Handler, Job, PermanentFailure, RetryLater

__all__ = ["QUEUE", "SyncResult", "sync_event", "sync_handler"]

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


@dataclass(frozen=True, slots=True)
class SyncResult:
    status: Applied | None
    document: Applied | None
    activity: bool


def sync_handler(deps: MirrorSources) -> Handler:
    async def handle(job: Job) -> None:
        await sync_event(deps, job)

    return handle


async def sync_event(deps: MirrorSources, job: Job) -> SyncResult:
    """Apply one job's event to the mirror; safe to run any number of times."""
    if job.event_id is None:
        raise PermanentFailure(f"{job.event_type} job {job.id} has no event id to deduplicate on")
    p = job.payload
    application_id = _uuid(p.get("application_id"), "application_id", job)
    occurred_at = _occurred_at(p, job)
    try:
        status = await _apply_status(deps.mirror, job, application_id, occurred_at)
        document = await _apply_document(deps.mirror, job, application_id, occurred_at)
        user_id = _text(p.get("borrower_id")) or await deps.mirror.borrower_of(application_id)
        activity = False
        if user_id is not None:
            if job.event_type.startswith("application."):
                await deps.mirror.ensure_profile(user_id)
            activity = await deps.mirror.record_activity(
                Activity(
                    event_id=job.event_id,
                    user_id=user_id,
                    kind=job.event_type,
                    application_id=application_id,
                    detail={k: p[k] for k in _ACTIVITY_KEYS if p.get(k) is not None},
                    occurred_at=occurred_at,
                )
            )
    except MirrorUnavailable as exc:
        raise RetryLater(f"supabase mirror unavailable: {exc}") from None
    if status == Applied.MISSING:
        log.info("no mirror row for %s job %d: its application was never mirrored", job.event_type, job.id)
    if Applied.APPLIED in (status, document) or activity:
        deps.observe_lag(max(0.0, (deps.clock.now() - occurred_at).total_seconds()))
    return SyncResult(status, document, activity)


async def _apply_status(
    mirror: StatusMirror, job: Job, application_id: UUID, occurred_at: datetime
) -> Applied | None:
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
        update = StatusUpdate(**common, application=snapshot, progress_percent=application_progress(status))
    elif family == "loan":
        # A repayment names the loan's status after it (a paid-off loan is closed: 100%).
        loan_status = _text(p.get("status")) or _text(p.get("status_after"))
        update = StatusUpdate(
            **common,
            progress_percent=None if loan_status is None else loan_progress(loan_status),
            loan_id=_optional_uuid(p.get("loan_id"), "loan_id", job),
            loan_status=loan_status,
        )
    elif family == "payment":
        update = StatusUpdate(
            **common,
            loan_id=_optional_uuid(p.get("loan_id"), "loan_id", job),
            payment_status=_payment_status(job.event_type, p),
        )
    else:
        return None  # offer.accepted, document.*: the application's own event carries the status
    return await mirror.apply_status(update)


async def _apply_document(
    mirror: StatusMirror, job: Job, application_id: UUID, occurred_at: datetime
) -> Applied | None:
    if not job.event_type.startswith("document."):
        return None
    p = job.payload
    owner = await mirror.borrower_of(application_id)
    if owner is None:
        return Applied.MISSING
    return await mirror.apply_document(
        DocumentUpdate(
            document_id=_uuid(p.get("document_id"), "document_id", job),
            application_id=application_id,
            user_id=owner,
            sequence=job.id,
            kind=_required(p, "document_type", job),
            status=_required(p, "status", job),
            occurred_at=occurred_at,
        )
    )


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
