"""The Supabase mirror's writer over PostgREST (``PostgrestStatusMirror``), with supabase-py's async
client, when only ``SUPABASE_URL`` and the service-role key are configured.

PostgREST has no conditional upsert, so a write is an insert that ignores duplicates followed, when
the row existed, by a PATCH filtered on ``last_sequence=lt.<sequence>``. That is safe here because
the queue runs one application's jobs one at a time; the filter still keeps a redelivered or older
event from moving the row backwards. A batch of events (``apply_events``, one per application) shares
its inserts (one JSON array per table: new status rows, document rows, profiles, activities) and its
read of the owners; a row that existed still takes its own PATCH, since a PATCH sets one set of values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast
from uuid import UUID

import httpx

from adapters.platform.http import HttpClient
from tools.notifications.ports import (
    Activity,
    Applied,
    DocumentUpdate,
    MirrorEvent,
    MirrorUnavailable,
    StatusUpdate,
    SyncResult,
)

__all__ = ["PostgrestStatusMirror", "jsonable"]

T = TypeVar("T")


class PostgrestStatusMirror:
    """supabase-py's async client over an httpx client with our timeouts; supabase-py's own retry
    loop is off because the job queue already retries with backoff."""

    def __init__(self, url: str, service_role_key: str, *, timeout: float = 10.0) -> None:
        # supabase-py is imported here: a process that never mirrors over HTTP never loads it (8 MiB).
        from supabase import AsyncClient, AsyncClientOptions

        self._http = HttpClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
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

    async def apply_events(self, events: Sequence[MirrorEvent]) -> list[SyncResult]:
        """The events' status writes, then the owners they need (one read), then their document rows,
        profiles and activities (one insert each, side by side)."""
        status = await self._apply_statuses([e.status for e in events if e.status is not None])
        wanted = {
            e.application_id
            for e in events
            if e.document is not None
            or e.borrower_id is None
            or status.get(e.application_id) == Applied.STALE
        }
        owners = await self._owners(wanted)
        documents = [
            (e, owners[e.application_id])
            for e in events
            if e.document is not None and e.application_id in owners
        ]
        users = {e.event_id: e.borrower_id or owners.get(e.application_id) for e in events}
        activities = [e.activity(user) for e in events if (user := users[e.event_id]) is not None]
        profiles = sorted({p for e in events if e.new_borrower and (p := users[e.event_id]) is not None})
        gathered = await asyncio.gather(
            self._insert_or_advance_many(
                "document_uploads",
                "id",
                [_document_row(u) for e, o in documents if (u := e.document_update(o)) is not None],
            ),
            self._insert_new("user_profiles", "id", [{"id": u} for u in profiles]),
            self._insert_new("user_activities", "event_id", [_activity_row(a) for a in activities]),
            return_exceptions=True,
        )
        _raise_first(gathered)
        applied, _, inserted = cast("tuple[list[Applied], Any, list[dict[str, Any]]]", gathered)
        document_of = {e.event_id: result for (e, _), result in zip(documents, applied, strict=True)}
        new_events = {r["event_id"] for r in inserted}
        done: list[SyncResult] = []
        for e in events:
            s = status.get(e.application_id) if e.status is not None else None
            if s == Applied.STALE and e.application_id not in owners:
                s = Applied.MISSING
            doc = None if e.document is None else document_of.get(e.event_id, Applied.MISSING)
            done.append(SyncResult(s, doc, str(e.event_id) in new_events))
        return done

    async def _apply_statuses(self, updates: list[StatusUpdate]) -> dict[UUID, Applied]:
        """APPLIED or STALE per application (STALE also for a move of a row that is not there)."""
        creates = [u for u in updates if u.application is not None]
        moves = [u for u in updates if u.application is None]
        gathered = await asyncio.gather(
            self._insert_or_advance_many(
                "application_status", "application_id", [_status_row(u) for u in creates]
            ),
            _all(
                *(
                    self._advance("application_status", "application_id", u.application_id, _changes(u))
                    for u in moves
                )
            ),
            return_exceptions=True,
        )
        _raise_first(gathered)
        created, moved = cast("tuple[list[Applied], list[Applied]]", gathered)
        return {u.application_id: a for u, a in zip([*creates, *moves], [*created, *moved], strict=True)}

    async def _owners(self, application_ids: set[UUID]) -> dict[UUID, str]:
        if not application_ids:
            return {}
        rows = await self._run(
            self._client.table("application_status")
            .select("application_id,borrower_id")
            .in_("application_id", sorted(str(i) for i in application_ids))
        )
        return {UUID(str(r["application_id"])): str(r["borrower_id"]) for r in rows}

    async def _insert_new(self, table: str, key: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows not there yet, inserted in one request (a JSON array); returns those inserted."""
        if not rows:
            return []
        return await self._run(
            self._client.table(table).upsert(
                [jsonable(r) for r in rows], on_conflict=key, ignore_duplicates=True
            )
        )

    async def _insert_or_advance_many(
        self, table: str, key: str, writes: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[Applied]:
        """Each (row, advance): the new rows inserted in one request, each row already there moved
        forward by its own PATCH (only to a newer ``last_sequence``)."""
        inserted = {str(r[key]) for r in await self._insert_new(table, key, [row for row, _ in writes])}
        advanced = await _all(
            *(
                self._advance(table, key, row[key], advance)
                for row, advance in writes
                if str(row[key]) not in inserted
            )
        )
        moved = iter(advanced)
        return [Applied.APPLIED if str(row[key]) in inserted else next(moved) for row, _ in writes]

    async def _advance(self, table: str, key: str, key_value: UUID, advance: dict[str, Any]) -> Applied:
        moved = await self._run(
            self._client.table(table)
            .update(jsonable(advance))
            .eq(key, str(key_value))
            .lt("last_sequence", advance["last_sequence"])
        )
        return Applied.APPLIED if moved else Applied.STALE

    async def apply_status(self, update: StatusUpdate) -> Applied:
        u = update
        if u.application is not None:
            [applied] = await self._insert_or_advance_many(
                "application_status", "application_id", [_status_row(u)]
            )
            return applied
        if (
            await self._advance("application_status", "application_id", u.application_id, _changes(u))
            == Applied.APPLIED
        ):
            return Applied.APPLIED
        found = await self._run(
            self._client.table("application_status")
            .select("application_id")
            .eq("application_id", str(u.application_id))
            .limit(1)
        )
        return Applied.STALE if found else Applied.MISSING

    async def apply_document(self, update: DocumentUpdate) -> Applied:
        [applied] = await self._insert_or_advance_many("document_uploads", "id", [_document_row(update)])
        return applied

    async def record_activity(self, activity: Activity) -> bool:
        return bool(await self._insert_new("user_activities", "event_id", [_activity_row(activity)]))

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


def _tracking(u: StatusUpdate) -> dict[str, Any]:
    tracking = {
        "last_event_id": u.event_id,
        "last_event_type": u.event_type,
        "last_sequence": u.sequence,
        "last_event_at": u.occurred_at,
        "updated_at": datetime.now(UTC),
    }
    if u.progress_percent is not None:
        tracking["progress_percent"] = u.progress_percent
    return tracking


def _status_row(u: StatusUpdate) -> tuple[dict[str, Any], dict[str, Any]]:
    """An application event's new row and, for a row already there, its advance. The new row names
    every column (0% for a status without a percentage, the column's default), so that rows of one
    batch share their keys, as PostgREST's bulk insert wants."""
    a = u.application
    assert a is not None
    fields = {
        "reference": a.reference,
        "borrower_id": a.borrower_id,
        "status": a.status,
        "requested_amount": a.requested_amount,
        "currency": a.currency,
        "term_months": a.term_months,
        **_tracking(u),
    }
    return {"application_id": u.application_id, "progress_percent": 0, **fields}, fields


def _changes(u: StatusUpdate) -> dict[str, Any]:
    moved = (("loan_id", u.loan_id), ("loan_status", u.loan_status), ("payment_status", u.payment_status))
    return {**{k: v for k, v in moved if v is not None}, **_tracking(u)}


def _document_row(u: DocumentUpdate) -> tuple[dict[str, Any], dict[str, Any]]:
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
    }
    return {**row, **fields}, fields


def _activity_row(a: Activity) -> dict[str, Any]:
    return {
        "event_id": a.event_id,
        "user_id": a.user_id,
        "kind": a.kind,
        "application_id": a.application_id,
        "detail": dict(a.detail),
        "occurred_at": a.occurred_at,
    }


async def _all(*calls: Awaitable[T]) -> list[T]:
    """Run the calls side by side; every one ends before the first failure is raised."""
    done = await asyncio.gather(*calls, return_exceptions=True)
    _raise_first(done)
    return cast("list[T]", done)


def _raise_first(results: Sequence[object]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            raise result


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in row.items()}


def _value(v: Any) -> Any:
    # PostgREST reads numeric from a JSON string exactly; a float would round money.
    if isinstance(v, UUID | Decimal):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Mapping):
        return jsonable(v)
    return v
