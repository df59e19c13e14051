"""The two writers of the Supabase mirror (``tools.notifications.ports.StatusMirror``).

``PgStatusMirror`` writes through the Supabase Postgres connection (``SUPABASE_DB_URL``, or the
embedded second database): each write is one statement, conditional on the row's ``last_sequence``,
run as ``service_role`` so the sync has exactly the rights the hosted service role has.

A batch of events (``apply_events``) is one statement (``adapters.notifications.mirror_batch``).

``PostgrestStatusMirror`` (``adapters.notifications.postgrest_mirror``) writes through PostgREST
with supabase-py's async client when only ``SUPABASE_URL`` and the service-role key are configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from prometheus_client import Counter, Gauge

from adapters.notifications.mirror_batch import APPLY_EVENTS, event_columns, results
from adapters.notifications.postgrest_mirror import PostgrestStatusMirror, jsonable
from tools.notifications.ports import (
    Activity,
    Applied,
    DocumentUpdate,
    MirrorEvent,
    MirrorUnavailable,
    StatusUpdate,
    SyncResult,
)
from tools.platform.jobs import BatchHandler, Job
from tools.platform.transactions import transaction

__all__ = [
    "SYNC_FAILURES",
    "SYNC_LAG",
    "PgStatusMirror",
    "PostgrestStatusMirror",
    "count_sync_failures",
    "observe_sync_lag",
]

SYNC_LAG = Gauge(
    "caas_supabase_sync_lag_seconds",
    "Seconds between an event happening and the Supabase mirror applying it (last applied event)",
    # Under --processes: the last one any live process set, like one process's.
    multiprocess_mode="livemostrecent",
)


SYNC_FAILURES = Counter(
    "caas_supabase_sync_failures_total",
    "Supabase sync attempts that failed in this process (retried later, or failed for good)",
)


def observe_sync_lag(seconds: float) -> None:
    SYNC_LAG.set(seconds)


def count_sync_failures(handler: BatchHandler) -> BatchHandler:
    """The sync queue's handler, counting every attempt that failed (the mirror down, a bad event)."""

    async def counted(jobs: list[Job]) -> list[Exception | None]:
        try:
            outcomes = list(await handler.run(jobs))
        except Exception:
            SYNC_FAILURES.inc(len(jobs))
            raise
        SYNC_FAILURES.inc(sum(o is not None for o in outcomes))
        return outcomes

    return BatchHandler(counted)


_CONNECTION_ERRORS = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)

_UPSERT_STATUS = """
INSERT INTO public.application_status AS s
    (application_id, reference, borrower_id, status, requested_amount, currency, term_months,
     progress_percent, last_event_id, last_event_type, last_sequence, last_event_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, 0), $9, $10, $11, $12, now())
ON CONFLICT (application_id) DO UPDATE SET
    reference = EXCLUDED.reference, borrower_id = EXCLUDED.borrower_id, status = EXCLUDED.status,
    requested_amount = EXCLUDED.requested_amount, currency = EXCLUDED.currency,
    term_months = EXCLUDED.term_months, progress_percent = coalesce($8, s.progress_percent),
    last_event_id = EXCLUDED.last_event_id, last_event_type = EXCLUDED.last_event_type,
    last_sequence = EXCLUDED.last_sequence, last_event_at = EXCLUDED.last_event_at, updated_at = now()
WHERE s.last_sequence < EXCLUDED.last_sequence
RETURNING true
"""

_MOVE_STATUS = """
UPDATE public.application_status SET
    progress_percent = coalesce($3, progress_percent), loan_id = coalesce($4, loan_id),
    loan_status = coalesce($5, loan_status), payment_status = coalesce($6, payment_status),
    last_event_id = $7, last_event_type = $8, last_sequence = $2, last_event_at = $9, updated_at = now()
WHERE application_id = $1 AND last_sequence < $2
RETURNING true
"""

_UPSERT_DOCUMENT = """
INSERT INTO public.document_uploads AS d
    (id, user_id, application_id, kind, status, created_at, updated_at, last_sequence)
VALUES ($1, $2, $3, $4, $5, $6, now(), $7)
ON CONFLICT (id) DO UPDATE SET
    kind = EXCLUDED.kind, status = EXCLUDED.status, updated_at = now(),
    last_sequence = EXCLUDED.last_sequence
WHERE d.last_sequence < EXCLUDED.last_sequence
RETURNING true
"""


class PgStatusMirror:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def _as_service(self) -> AsyncIterator[PoolConnectionProxy]:
        try:
            # The connection's own user may own the tables (FORCE RLS) or be a superuser: the sync
            # writes with the service role's rights, no more. BEGIN and the role are one simple
            # query (one round trip; asyncpg's transaction() would send BEGIN alone).
            begin = "BEGIN; SET LOCAL ROLE service_role"
            async with self._pool.acquire() as conn, transaction(conn, begin):
                yield conn
        except _CONNECTION_ERRORS as exc:
            raise MirrorUnavailable(type(exc).__name__) from None

    async def apply_events(self, events: Sequence[MirrorEvent]) -> list[SyncResult]:
        """Every write of every event in one statement (``mirror_batch``), one transaction."""
        async with self._as_service() as conn:
            rows = await conn.fetch(APPLY_EVENTS, *event_columns(events))
        return results(events, rows)

    async def apply_status(self, update: StatusUpdate) -> Applied:
        u = update
        async with self._as_service() as conn:
            if u.application is not None:
                a = u.application
                done = await conn.fetchval(
                    _UPSERT_STATUS,
                    u.application_id,
                    a.reference,
                    a.borrower_id,
                    a.status,
                    a.requested_amount,
                    a.currency,
                    a.term_months,
                    u.progress_percent,
                    u.event_id,
                    u.event_type,
                    u.sequence,
                    u.occurred_at,
                )
                return Applied.APPLIED if done else Applied.STALE
            done = await conn.fetchval(
                _MOVE_STATUS,
                u.application_id,
                u.sequence,
                u.progress_percent,
                u.loan_id,
                u.loan_status,
                u.payment_status,
                u.event_id,
                u.event_type,
                u.occurred_at,
            )
            if done:
                return Applied.APPLIED
            exists = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM public.application_status WHERE application_id = $1)",
                u.application_id,
            )
            return Applied.STALE if exists else Applied.MISSING

    async def apply_document(self, update: DocumentUpdate) -> Applied:
        u = update
        async with self._as_service() as conn:
            done = await conn.fetchval(
                _UPSERT_DOCUMENT,
                u.document_id,
                u.user_id,
                u.application_id,
                u.kind,
                u.status,
                u.occurred_at,
                u.sequence,
            )
        return Applied.APPLIED if done else Applied.STALE

    async def record_activity(self, activity: Activity) -> bool:
        a = activity
        async with self._as_service() as conn:
            done = await conn.fetchval(
                """INSERT INTO public.user_activities
                       (user_id, kind, application_id, detail, occurred_at, event_id)
                   VALUES ($1, $2, $3, $4::jsonb, $5, $6)
                   ON CONFLICT (event_id) DO NOTHING RETURNING true""",
                a.user_id,
                a.kind,
                a.application_id,
                jsonable(a.detail),  # the pool's jsonb codec serialises it
                a.occurred_at,
                a.event_id,
            )
        return bool(done)

    async def ensure_profile(self, user_id: str) -> None:
        async with self._as_service() as conn:
            await conn.execute(
                "INSERT INTO public.user_profiles (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", user_id
            )

    async def borrower_of(self, application_id: UUID) -> str | None:
        async with self._as_service() as conn:
            owner: str | None = await conn.fetchval(
                "SELECT borrower_id FROM public.application_status WHERE application_id = $1",
                application_id,
            )
        return owner

    async def aclose(self) -> None:
        return None  # the pool belongs to the runtime
