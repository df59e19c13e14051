"""A batch of Supabase sync events in one statement (``PgStatusMirror.apply_events``).

The events are of different applications (a claim holds one job per application). One statement
makes every write of every event, with the conditions of the single writes in
``adapters.notifications.supabase_sync``: a status row moves only to a newer ``last_sequence``, a
document row likewise, a profile and an activity are inserted unless there. Each event's owner (the
borrower of its mirrored row) is read from the statement's snapshot, before its writes: the same
owner the single path reads after its status write, since a status write only changes a row's
borrower in an application event, which names its borrower itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from tools.notifications.ports import Applied, MirrorEvent, SyncResult

__all__ = ["APPLY_EVENTS", "event_columns", "results"]

APPLY_EVENTS = """
WITH e AS MATERIALIZED (
    SELECT e.*, s.borrower_id AS owner, coalesce(e.borrower_id, s.borrower_id) AS user_id
    FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::timestamptz[], $6::text[],
                $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[], $12::numeric[],
                $13::text[], $14::int[], $15::int[], $16::uuid[], $17::text[], $18::text[],
                $19::uuid[], $20::text[], $21::text[])
        AS e(application_id, seq, event_id, event_type, at, op, new_borrower, borrower_id, detail,
             reference, status, requested_amount, currency, term_months, progress, loan_id,
             loan_status, payment_status, document_id, doc_kind, doc_status)
    LEFT JOIN public.application_status s ON s.application_id = e.application_id
), up AS (
    INSERT INTO public.application_status AS s
        (application_id, reference, borrower_id, status, requested_amount, currency, term_months,
         progress_percent, last_event_id, last_event_type, last_sequence, last_event_at, updated_at)
    SELECT application_id, reference, borrower_id, status, requested_amount, currency, term_months,
           coalesce(progress, 0), event_id, event_type, seq, at, now()
    FROM e WHERE op = 'create'
    ON CONFLICT (application_id) DO UPDATE SET
        reference = EXCLUDED.reference, borrower_id = EXCLUDED.borrower_id, status = EXCLUDED.status,
        requested_amount = EXCLUDED.requested_amount, currency = EXCLUDED.currency,
        term_months = EXCLUDED.term_months,
        -- An unknown status keeps the row's percentage (EXCLUDED holds the insert's 0 instead).
        progress_percent = coalesce(
            (SELECT p.progress FROM e p WHERE p.application_id = EXCLUDED.application_id),
            s.progress_percent),
        last_event_id = EXCLUDED.last_event_id, last_event_type = EXCLUDED.last_event_type,
        last_sequence = EXCLUDED.last_sequence, last_event_at = EXCLUDED.last_event_at, updated_at = now()
    WHERE s.last_sequence < EXCLUDED.last_sequence
    RETURNING s.application_id
), mv AS (
    UPDATE public.application_status s SET
        progress_percent = coalesce(e.progress, s.progress_percent), loan_id = coalesce(e.loan_id, s.loan_id),
        loan_status = coalesce(e.loan_status, s.loan_status),
        payment_status = coalesce(e.payment_status, s.payment_status),
        last_event_id = e.event_id, last_event_type = e.event_type, last_sequence = e.seq,
        last_event_at = e.at, updated_at = now()
    FROM e WHERE e.op = 'move' AND s.application_id = e.application_id AND s.last_sequence < e.seq
    RETURNING s.application_id
), doc AS (
    INSERT INTO public.document_uploads AS d
        (id, user_id, application_id, kind, status, created_at, updated_at, last_sequence)
    SELECT document_id, owner, application_id, doc_kind, doc_status, at, now(), seq
    FROM e WHERE document_id IS NOT NULL AND owner IS NOT NULL
    ON CONFLICT (id) DO UPDATE SET
        kind = EXCLUDED.kind, status = EXCLUDED.status, updated_at = now(),
        last_sequence = EXCLUDED.last_sequence
    WHERE d.last_sequence < EXCLUDED.last_sequence
    RETURNING d.id
), profile AS (
    INSERT INTO public.user_profiles (id)
    SELECT DISTINCT user_id FROM e WHERE new_borrower AND user_id IS NOT NULL
    ON CONFLICT (id) DO NOTHING
), act AS (
    INSERT INTO public.user_activities (user_id, kind, application_id, detail, occurred_at, event_id)
    SELECT user_id, event_type, application_id, detail::jsonb, at, event_id
    FROM e WHERE user_id IS NOT NULL
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
SELECT e.application_id,
       e.application_id IN (SELECT application_id FROM up UNION ALL SELECT application_id FROM mv)
           AS status_applied,
       e.owner IS NOT NULL AS mirrored,
       coalesce(e.document_id IN (SELECT id FROM doc), false) AS document_applied,
       e.event_id IN (SELECT event_id FROM act) AS activity
FROM e
"""


def event_columns(events: Sequence[MirrorEvent]) -> list[list[Any]]:
    """The statement's arguments: one array per column of ``e``, one element per event."""
    columns: list[list[Any]] = [[] for _ in range(21)]
    for e in events:
        s, a, d = e.status, (e.status.application if e.status else None), e.document
        op = None if s is None else "create" if a is not None else "move"
        row = (
            e.application_id,
            e.sequence,
            e.event_id,
            e.event_type,
            e.occurred_at,
            op,
            e.new_borrower,
            e.borrower_id,
            json.dumps(_plain(e.detail)),
            a and a.reference,
            a and a.status,
            a and a.requested_amount,
            a and a.currency,
            a and a.term_months,
            s and s.progress_percent,
            s and s.loan_id,
            s and s.loan_status,
            s and s.payment_status,
            d and d.document_id,
            d and d.kind,
            d and d.status,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def results(events: Sequence[MirrorEvent], rows: Sequence[asyncpg.Record]) -> list[SyncResult]:
    by_application = {r["application_id"]: r for r in rows}
    done: list[SyncResult] = []
    for e in events:
        r = by_application[e.application_id]
        status: Applied | None = None
        if e.status is not None:
            applied, mirrored = r["status_applied"], r["mirrored"] or e.status.application is not None
            status = Applied.APPLIED if applied else Applied.STALE if mirrored else Applied.MISSING
        document: Applied | None = None
        if e.document is not None:
            applied, mirrored = r["document_applied"], r["mirrored"]
            document = Applied.APPLIED if applied else Applied.STALE if mirrored else Applied.MISSING
        done.append(SyncResult(status, document, bool(r["activity"])))
    return done


def _plain(value: Any) -> Any:
    # The payload came from JSON; what is not plain JSON is written as its text (a UUID, a Decimal).
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
