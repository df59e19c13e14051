"""Bids and bidding rounds in ``caas_core``: the reader (pool) and the writer (inside a unit of work)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from database.marketplace.bid_placement import place_bid
from database.marketplace.bid_state import bidding_round, bidding_state, end_round
from database.marketplace.capital_at_commit import CapitalAtCommit
from database.marketplace.providers import PgProviderReader, PgProviderWriter
from database.platform.audit import Connection
from database.sql import Filters
from tools.loans.domain.commission_plan import CommissionPlan
from tools.marketplace.domain.bids import BiddingRound, BiddingState, BidRecord, BidTerms, NewBid
from tools.marketplace.domain.providers import ProviderRecord
from tools.marketplace.ports import BidQuery
from tools.platform.errors import Conflict
from tools.platform.ports import Invocation

__all__ = ["PgBidReader", "PgBidWriter"]

_BID_COLUMNS = (
    "b.id, b.application_id, b.provider_id, b.version, b.amount_minor, b.currency, b.annual_rate, "
    "b.term_months, b.origination_fee_minor, b.repayment_frequency, b.schedule_method, b.valid_until, "
    "b.conditions, b.status, b.created_by, b.created_at, b.accepted_at, p.name AS provider_name, "
    "p.status AS provider_status"
)
_SELECT = f"SELECT {_BID_COLUMNS} FROM caas_core.bids b JOIN caas_core.providers p ON p.id = b.provider_id"
# The effective status: an active bid past its validity reads as expired.
_STATUS_AT = "CASE WHEN b.status = 'active' AND b.valid_until <= {now} THEN 'expired' ELSE b.status END"
_PROVIDER_COLUMNS = ", ".join(f.name for f in fields(ProviderRecord))
# A statement that writes bids returns them as the readers see them, with their provider's name and
# status: ``WITH written AS (... RETURNING b.*)`` then this select over it.
_WRITTEN = (
    f"SELECT {_BID_COLUMNS} FROM written b JOIN caas_core.providers p ON p.id = b.provider_id "
    "ORDER BY b.created_at, b.id"
)


def _bid(row: asyncpg.Record) -> BidRecord:
    data = dict(row.items())
    data["currency"] = data["currency"].strip()
    return BidRecord(**data)


def _provider(row: asyncpg.Record) -> ProviderRecord:
    data = dict(row.items())
    data["commission_plan"] = CommissionPlan.model_validate(data["commission_plan"])
    return ProviderRecord(**data)


def _round(row: asyncpg.Record) -> BiddingRound:
    return BiddingRound(**dict(row.items()))


class PgBidReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, bid_id: UUID) -> BidRecord | None:
        row = await self._pool.fetchrow(f"{_SELECT} WHERE b.id = $1", bid_id)
        return _bid(row) if row else None

    async def listing(self, query: BidQuery) -> list[BidRecord]:
        f = Filters(query.application_id)
        f.add("b.application_id = $1")
        if query.provider_id is not None:
            f.add(f"b.provider_id = {f.arg(query.provider_id)}")
        if query.statuses:
            status = _STATUS_AT.format(now=f.arg(query.now))
            f.add(f"{status} = ANY({f.arg(list(query.statuses))}::text[])")
        f.keyset(("b.created_at", "b.id"), query.after)
        sql = f.page(_SELECT, ("b.created_at", "b.id"), query.limit)
        return [_bid(r) for r in await self._pool.fetch(sql, *f.args)]

    async def active(self, application_id: UUID) -> list[BidRecord]:
        rows = await self._pool.fetch(
            f"{_SELECT} WHERE b.application_id = $1 AND b.status = 'active' ORDER BY b.created_at, b.id",
            application_id,
        )
        return [_bid(r) for r in rows]

    async def settled(self, application_id: UUID, accepted_id: UUID) -> list[BidRecord]:
        rows = await self._pool.fetch(
            f"""
            {_SELECT} WHERE b.application_id = $1 AND b.id <> $2
              AND b.status IN ('rejected', 'expired')
            ORDER BY b.created_at, b.id
            """,
            application_id,
            accepted_id,
        )
        return [_bid(r) for r in rows]

    async def invited(self, application_id: UUID, provider_id: UUID) -> bool:
        return bool(
            await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM caas_core.provider_invitations "
                "WHERE application_id = $1 AND provider_id = $2)",
                application_id,
                provider_id,
            )
        )

    async def reservation_journal(self, bid_id: UUID) -> UUID | None:
        value = await self._pool.fetchval(
            "SELECT id FROM caas_ledger.journals WHERE kind = 'reservation' AND source_id = $1", str(bid_id)
        )
        return value if isinstance(value, UUID) else None


class PgBidWriter:
    def __init__(self, conn: Connection, capital: CapitalAtCommit | None = None) -> None:
        self._conn, self._capital = conn, capital  # capital: as PgProviderWriter's

    async def invited_providers(self, application_id: UUID) -> set[UUID]:
        return await PgProviderReader(self._conn).invited(application_id)

    async def round(self, application_id: UUID, opened_at: datetime, window: timedelta) -> BiddingRound:
        return await bidding_round(self._conn, application_id, opened_at, window)

    async def close_round(self, application_id: UUID, by: str, reason: str, now: datetime) -> BiddingRound:
        row = await self._conn.fetchrow(
            "UPDATE caas_core.bidding_rounds SET closed_at = $2, closed_by = $3, close_reason = $4, "
            "closes_at = least(closes_at, greatest($2, opened_at)) WHERE application_id = $1 "
            "RETURNING application_id, opened_at, closes_at, closed_at, closed_by, close_reason",
            application_id,
            now,
            by,
            reason,
        )
        assert row is not None
        return _round(row)

    async def end_round(
        self, application_id: UUID, opened: datetime, window: timedelta, by: str, reason: str, now: datetime
    ) -> None:
        await end_round(self._conn, application_id, opened, window, by, reason, now)

    async def invitation_status(self, application_id: UUID, provider_id: UUID) -> str | None:
        value = await self._conn.fetchval(
            "SELECT status FROM caas_core.provider_invitations "
            "WHERE application_id = $1 AND provider_id = $2 FOR NO KEY UPDATE",
            application_id,
            provider_id,
        )
        return str(value) if value is not None else None

    async def place(
        self, new: NewBid, call: Invocation, event_fields: dict[str, Any]
    ) -> tuple[BidRecord, ProviderRecord | None]:
        return await place_bid(self._conn, new, call, event_fields)

    async def decline_invitation(self, application_id: UUID, provider_id: UUID) -> UUID | None:
        invitation_id = await self._conn.fetchval(
            """
            WITH declined AS (
                UPDATE caas_core.provider_invitations SET status = 'declined'
                WHERE application_id = $1 AND provider_id = $2 AND status = 'invited'
                RETURNING id, provider_id
            ), tallied AS (
                INSERT INTO caas_core.provider_decision_tallies (provider_id, approved)
                SELECT provider_id, false FROM declined
            )
            SELECT id FROM declined
            """,
            application_id,
            provider_id,
        )
        return invitation_id if isinstance(invitation_id, UUID) else None

    async def waiting_providers(self, application_id: UUID) -> list[UUID]:
        rows = await self._conn.fetch(
            "SELECT provider_id FROM caas_core.provider_invitations "
            "WHERE application_id = $1 AND status = 'invited' ORDER BY provider_id",
            application_id,
        )
        return [r["provider_id"] for r in rows]

    async def expire_invitations(self, application_id: UUID, *, tally: bool = True) -> int:
        """Unanswered invitations -> expired; with ``tally``, each a decision of its lender's (not an
        approval): it let the application go by (decision_tallies)."""
        expired = await self._conn.fetchval(
            """
            WITH expired AS (
                UPDATE caas_core.provider_invitations SET status = 'expired'
                WHERE application_id = $1 AND status = 'invited'
                RETURNING provider_id
            ), tallied AS (
                INSERT INTO caas_core.provider_decision_tallies (provider_id, approved)
                SELECT provider_id, false FROM expired WHERE $2::boolean
            )
            SELECT count(*) FROM expired
            """,
            application_id,
            tally,
        )
        return int(expired)

    async def lock(self, bid_id: UUID) -> BidRecord | None:
        row = await self._conn.fetchrow(f"{_SELECT} WHERE b.id = $1 FOR NO KEY UPDATE OF b", bid_id)
        return _bid(row) if row else None

    async def bidding_state(
        self, application_id: UUID, provider_id: UUID, is_open: bool, opened_at: datetime, window: timedelta
    ) -> BiddingState:
        return await bidding_state(self._conn, application_id, provider_id, is_open, opened_at, window)

    async def next_version(self, application_id: UUID, provider_id: UUID) -> int:
        value = await self._conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM caas_core.bids "
            "WHERE application_id = $1 AND provider_id = $2",
            application_id,
            provider_id,
        )
        return int(value)

    async def insert(
        self, application_id: UUID, provider_id: UUID, version: int, terms: BidTerms, by: str
    ) -> BidRecord:
        try:
            row = await self._conn.fetchrow(
                f"""
                WITH written AS (
                    INSERT INTO caas_core.bids (application_id, provider_id, version, amount_minor,
                        currency, annual_rate, term_months, origination_fee_minor, repayment_frequency,
                        schedule_method, valid_until, conditions, created_by)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                    RETURNING *
                )
                {_WRITTEN}
                """,
                application_id,
                provider_id,
                version,
                terms.amount_minor,
                terms.currency,
                terms.annual_rate,
                terms.term_months,
                terms.origination_fee_minor,
                terms.repayment_frequency.value,
                terms.schedule_method.value,
                terms.valid_until,
                terms.conditions,
                by,
            )
        except asyncpg.UniqueViolationError:  # pragma: no cover - the application row lock orders writers
            raise Conflict("your provider already has an active bid on this application") from None
        assert row is not None
        return _bid(row)

    async def set_status(self, bid_id: UUID, status: str) -> BidRecord:
        row = await self._conn.fetchrow(
            f"""
            WITH written AS (
                UPDATE caas_core.bids SET status = $2 WHERE id = $1 AND status = 'active' RETURNING *
            )
            {_WRITTEN}
            """,
            bid_id,
            status,
        )
        if row is None:  # pragma: no cover - callers lock and check the bid first
            raise Conflict(f"bid {bid_id} is no longer active")
        return _bid(row)

    async def accept(self, bid_id: UUID, now: datetime) -> BidRecord:
        try:
            row = await self._conn.fetchrow(
                f"""
                WITH written AS (
                    UPDATE caas_core.bids SET status = 'accepted', accepted_at = $2
                    WHERE id = $1 AND status = 'active' RETURNING *
                )
                {_WRITTEN}
                """,
                bid_id,
                now,
            )
        except asyncpg.UniqueViolationError:  # pragma: no cover - the application row lock comes first
            raise Conflict("another bid on this application was accepted first") from None
        if row is None:  # pragma: no cover - the caller locked and checked the bid
            raise Conflict(f"bid {bid_id} is no longer active")
        return _bid(row)

    async def expire_active(self, application_id: UUID) -> list[BidRecord]:
        rows = await self._conn.fetch(
            f"""
            WITH written AS (
                UPDATE caas_core.bids SET status = 'expired'
                WHERE application_id = $1 AND status = 'active' RETURNING *
            )
            {_WRITTEN}
            """,
            application_id,
        )
        return [_bid(r) for r in rows]

    async def settle_others(self, application_id: UUID, accepted_id: UUID, now: datetime) -> list[BidRecord]:
        rows = await self._conn.fetch(
            f"""
            WITH written AS (
                UPDATE caas_core.bids
                SET status = CASE WHEN valid_until <= $3 THEN 'expired' ELSE 'rejected' END
                WHERE application_id = $1 AND id <> $2 AND status = 'active' RETURNING *
            )
            {_WRITTEN}
            """,
            application_id,
            accepted_id,
            now,
        )
        return [_bid(r) for r in rows]

    async def accepted_bid(self, application_id: UUID) -> BidRecord | None:
        row = await self._conn.fetchrow(
            f"{_SELECT} WHERE b.application_id = $1 AND b.status = 'accepted'", application_id
        )
        return _bid(row) if row else None

    async def release_capital(self, provider_id: UUID, amount_minor: int) -> None:
        await PgProviderWriter(self._conn, self._capital).add_capital(provider_id, amount_minor)

    async def reserve_capital(self, provider_id: UUID, amount_minor: int) -> int:
        row = await self._reserve(
            f"{_RESERVE} RETURNING capital_available_minor, status", provider_id, amount_minor
        )
        assert row is not None
        return _reserved(row)

    async def reserve_or_waiting(self, application_id: UUID, provider_id: UUID, amount: int) -> list[UUID]:
        row = await self._reserve(_RESERVE_OR_WAITING, provider_id, amount, application_id)
        assert row is not None
        if row["waiting"]:
            return list(row["waiting"])
        _reserved(row)
        return []

    async def _reserve(self, sql: str, *args: object) -> asyncpg.Record | None:
        try:
            return await self._conn.fetchrow(sql, *args)
        except asyncpg.CheckViolationError:
            raise Conflict(
                "the provider's available capital no longer covers this offer; it cannot be accepted"
            ) from None


_RESERVE = (
    "UPDATE caas_core.providers SET capital_available_minor = capital_available_minor - $2, "
    "updated_at = now(), version = version + 1 WHERE id = $1"
)
# The lender's reservation, unless invited providers never bid: then nothing is reserved and they are
# returned, so that the caller locks every provider's row in id order first (tools.platform.locking).
_RESERVE_OR_WAITING = f"""
WITH waiting AS (
    SELECT provider_id FROM caas_core.provider_invitations WHERE application_id = $3 AND status = 'invited'
), reserved AS (
    {_RESERVE} AND NOT EXISTS (SELECT 1 FROM waiting) RETURNING capital_available_minor, status
)
SELECT (SELECT array_agg(provider_id ORDER BY provider_id) FROM waiting) AS waiting, r.*
FROM (SELECT 1) AS one LEFT JOIN reserved r ON true
"""


def _reserved(row: asyncpg.Record) -> int:
    assert row["status"] is not None  # the provider exists
    if row["status"] != "active":  # the caller's transaction rolls the update back
        raise Conflict("the provider is suspended; its offer cannot be accepted now")
    return int(row["capital_available_minor"])
