"""The two writers of the Supabase mirror (``tools.notifications.ports.StatusMirror``).

``PgStatusMirror`` writes through the Supabase Postgres connection (``SUPABASE_DB_URL``, or the
embedded second database): each write is one statement, conditional on the row's ``last_sequence``,
run as ``service_role`` so the sync has exactly the rights the hosted service role has.

``PostgrestStatusMirror`` writes through PostgREST with supabase-py's async client when only
``SUPABASE_URL`` and the service-role key are configured. PostgREST has no conditional upsert, so
a write is an insert that ignores duplicates followed, when the row existed, by a PATCH filtered on
``last_sequence=lt.<sequence>``. That is safe here because the queue runs one application's jobs one
at a time; the filter still keeps a redelivered or older event from moving the row backwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import httpx
from asyncpg.pool import PoolConnectionProxy
from prometheus_client import Counter, Gauge

from tools.notifications.ports import Activity, Applied, DocumentUpdate, MirrorUnavailable, StatusUpdate
from tools.platform.jobs import Handler, Job

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


def count_sync_failures(handler: Handler) -> Handler:
    """The sync queue's handler, counting every attempt that raised (the mirror down, a bad event)."""

    async def counted(job: Job) -> None:
        try:
            await handler(job)
        except Exception:
            SYNC_FAILURES.inc()
            raise

    return counted


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
            async with self._pool.acquire() as conn, conn.transaction():
                # The connection's own user may own the tables (FORCE RLS) or be a superuser: the
                # sync writes with the service role's rights, no more.
                await conn.execute("SET LOCAL ROLE service_role")
                yield conn
        except _CONNECTION_ERRORS as exc:
            raise MirrorUnavailable(type(exc).__name__) from None

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
                _jsonable(a.detail),  # the pool's jsonb codec serialises it
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


class PostgrestStatusMirror:
    """supabase-py's async client over an httpx client with our timeouts; supabase-py's own retry
    loop is off because the job queue already retries with backoff."""

    def __init__(self, url: str, service_role_key: str, *, timeout: float = 10.0) -> None:
        # supabase-py is imported here: a process that never mirrors over HTTP never loads it (8 MiB).
        from supabase import AsyncClient, AsyncClientOptions

        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
        self._client = AsyncClient(
            url,
            service_role_key,
            AsyncClientOptions(
                httpx_client=self._http,
                postgrest_client_retry=False,
                auto_refresh_token=False,
                persist_session=False,
            ),
        )

    async def _run(self, query: Any) -> list[dict[str, Any]]:
        from postgrest import APIError

        try:
            response = await query.execute()
        except APIError as exc:
            raise MirrorUnavailable(f"PostgREST refused the write (code {exc.code})") from None
        except httpx.HTTPError as exc:
            raise MirrorUnavailable(type(exc).__name__) from None
        return list(response.data or [])

    async def _insert_or_advance(
        self, table: str, key: str, key_value: UUID, row: dict[str, Any], advance: dict[str, Any]
    ) -> Applied:
        inserted = await self._run(
            self._client.table(table).upsert(_jsonable(row), on_conflict=key, ignore_duplicates=True)
        )
        if inserted:
            return Applied.APPLIED
        moved = await self._run(
            self._client.table(table)
            .update(_jsonable(advance))
            .eq(key, str(key_value))
            .lt("last_sequence", advance["last_sequence"])
        )
        return Applied.APPLIED if moved else Applied.STALE

    async def apply_status(self, update: StatusUpdate) -> Applied:
        u = update
        tracking = {
            "last_event_id": u.event_id,
            "last_event_type": u.event_type,
            "last_sequence": u.sequence,
            "last_event_at": u.occurred_at,
            "updated_at": datetime.now(UTC),
        }
        if u.progress_percent is not None:
            tracking["progress_percent"] = u.progress_percent
        if u.application is not None:
            a = u.application
            fields = {
                "reference": a.reference,
                "borrower_id": a.borrower_id,
                "status": a.status,
                "requested_amount": a.requested_amount,
                "currency": a.currency,
                "term_months": a.term_months,
                **tracking,
            }
            row = {"application_id": u.application_id, **fields}
            return await self._insert_or_advance(
                "application_status", "application_id", u.application_id, row, fields
            )
        changes = {
            **{
                k: v
                for k, v in (
                    ("loan_id", u.loan_id),
                    ("loan_status", u.loan_status),
                    ("payment_status", u.payment_status),
                )
                if v is not None
            },
            **tracking,
        }
        moved = await self._run(
            self._client.table("application_status")
            .update(_jsonable(changes))
            .eq("application_id", str(u.application_id))
            .lt("last_sequence", u.sequence)
        )
        if moved:
            return Applied.APPLIED
        found = await self._run(
            self._client.table("application_status")
            .select("application_id")
            .eq("application_id", str(u.application_id))
            .limit(1)
        )
        return Applied.STALE if found else Applied.MISSING

    async def apply_document(self, update: DocumentUpdate) -> Applied:
        u = update
        fields = {
            "kind": u.kind,
            "status": u.status,
            "last_sequence": u.sequence,
            "updated_at": datetime.now(UTC),
        }
        row = {
            "id": u.document_id,
            "user_id": u.user_id,
            "application_id": u.application_id,
            "created_at": u.occurred_at,
            **fields,
        }
        return await self._insert_or_advance("document_uploads", "id", u.document_id, row, fields)

    async def record_activity(self, activity: Activity) -> bool:
        a = activity
        row = {
            "event_id": a.event_id,
            "user_id": a.user_id,
            "kind": a.kind,
            "application_id": a.application_id,
            "detail": dict(a.detail),
            "occurred_at": a.occurred_at,
        }
        inserted = await self._run(
            self._client.table("user_activities").upsert(
                _jsonable(row), on_conflict="event_id", ignore_duplicates=True
            )
        )
        return bool(inserted)

    async def ensure_profile(self, user_id: str) -> None:
        await self._run(
            self._client.table("user_profiles").upsert(
                {"id": user_id}, on_conflict="id", ignore_duplicates=True
            )
        )

    async def borrower_of(self, application_id: UUID) -> str | None:
        rows = await self._run(
            self._client.table("application_status")
            .select("borrower_id")
            .eq("application_id", str(application_id))
            .limit(1)
        )
        return str(rows[0]["borrower_id"]) if rows else None

    async def aclose(self) -> None:
        await self._http.aclose()


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in row.items()}


def _value(v: Any) -> Any:
    # PostgREST reads numeric from a JSON string exactly; a float would round money.
    if isinstance(v, UUID | Decimal):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Mapping):
        return _jsonable(v)
    return v
