"""Bidding rounds in one statement each (made or read; made or closed), and placing a bid's reads
after the application's row lock as one statement (issue 14): the invitation (locked), the round
(made the first time bidding is touched), the provider, its active bid and its next version number;
four round trips and a second pooled connection before."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from database.platform.audit import Connection
from tools.loans.domain.commission_plan import CommissionPlan
from tools.marketplace.domain.bids import BiddingRound, BiddingState, BidRecord
from tools.marketplace.domain.providers import ProviderRecord

__all__ = ["bidding_round", "bidding_state", "end_round"]

_ROUND = [f.name for f in fields(BiddingRound)]
_PROVIDER = [f.name for f in fields(ProviderRecord)]
_BID_SOURCE = {"provider_name": "p.name", "provider_status": "p.status"}
_BID = [f.name for f in fields(BidRecord)]
_COLUMNS = ", ".join(
    [f"r.{c} AS r_{c}" for c in _ROUND]
    + [f"pr.{c} AS p_{c}" for c in _PROVIDER]
    + [f"{_BID_SOURCE.get(c, 'b.' + c)} AS b_{c}" for c in _BID]
)
# The round is made only when the application is open ($3) and the provider invited, as it was when
# read after those checks; every caller holds the application's row lock, so no other transaction
# makes it meanwhile (were one to, its row would not be in this statement's snapshot: read again).
_STATE = f"""
WITH invitation AS (
    SELECT status FROM caas_core.provider_invitations
    WHERE application_id = $1 AND provider_id = $2 FOR NO KEY UPDATE
), made AS (
    INSERT INTO caas_core.bidding_rounds (application_id, opened_at, closes_at)
    SELECT $1, $4, $5 WHERE $3 AND EXISTS (SELECT 1 FROM invitation)
    ON CONFLICT (application_id) DO NOTHING
    RETURNING {", ".join(_ROUND)}
), rnd AS (
    SELECT * FROM made
    UNION ALL
    SELECT {", ".join(_ROUND)} FROM caas_core.bidding_rounds
    WHERE application_id = $1 AND $3 AND EXISTS (SELECT 1 FROM invitation)
      AND NOT EXISTS (SELECT 1 FROM made)
)
SELECT (SELECT status FROM invitation) AS invitation, v.next_version, {_COLUMNS}
FROM (
    SELECT coalesce(max(version), 0) + 1 AS next_version FROM caas_core.bids
    WHERE application_id = $1 AND provider_id = $2
) v
LEFT JOIN rnd r ON true
LEFT JOIN caas_core.providers pr ON pr.id = $2
LEFT JOIN (caas_core.bids b JOIN caas_core.providers p ON p.id = b.provider_id)
    ON b.application_id = $1 AND b.provider_id = $2 AND b.status = 'active'
"""


def _part(data: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    part = {k.removeprefix(prefix): v for k, v in data.items() if k.startswith(prefix)}
    return None if part["application_id" if prefix == "r_" else "id"] is None else part


async def bidding_state(
    conn: Connection,
    application_id: UUID,
    provider_id: UUID,
    is_open: bool,
    opened_at: datetime,
    window: timedelta,
) -> BiddingState:
    row = await conn.fetchrow(_STATE, application_id, provider_id, is_open, opened_at, opened_at + window)
    assert row is not None
    data = dict(row.items())
    rnd, provider, bid = _part(data, "r_"), _part(data, "p_"), _part(data, "b_")
    if is_open and data["invitation"] is not None and rnd is None:  # pragma: no cover - see _STATE
        made = await conn.fetchrow(
            f"SELECT {', '.join(_ROUND)} FROM caas_core.bidding_rounds WHERE application_id = $1",
            application_id,
        )
        rnd = dict(made.items()) if made else None
    if provider is not None:
        provider["commission_plan"] = CommissionPlan.model_validate(provider["commission_plan"])
    if bid is not None:
        bid["currency"] = bid["currency"].strip()
    return BiddingState(
        invitation=data["invitation"],
        round=BiddingRound(**rnd) if rnd else None,
        provider=ProviderRecord(**provider) if provider else None,
        standing=BidRecord(**bid) if bid else None,
        next_version=int(data["next_version"]),
    )


_COLUMNS_OF_ROUND = ", ".join(_ROUND)
_READ_ROUND = f"SELECT {_COLUMNS_OF_ROUND} FROM caas_core.bidding_rounds WHERE application_id = $1"


async def bidding_round(
    conn: Connection, application_id: UUID, opened_at: datetime, window: timedelta
) -> BiddingRound:
    """The application's round as stored, made now (opened_at + window) when bidding is touched the
    first time: one statement. Every caller holds the application's row lock, so no other transaction
    makes it meanwhile; if one did (the INSERT then waits and does nothing, and this statement's
    snapshot predates it), the round is read again."""
    row = await conn.fetchrow(
        f"""
        WITH made AS (
            INSERT INTO caas_core.bidding_rounds (application_id, opened_at, closes_at)
            VALUES ($1, $2, $3) ON CONFLICT (application_id) DO NOTHING
            RETURNING {_COLUMNS_OF_ROUND}
        )
        SELECT * FROM made
        UNION ALL
        {_READ_ROUND} AND NOT EXISTS (SELECT 1 FROM made)
        """,
        application_id,
        opened_at,
        opened_at + window,
    )
    if row is None:  # pragma: no cover - see above
        row = await conn.fetchrow(_READ_ROUND, application_id)
    assert row is not None
    return BiddingRound(**dict(row.items()))


async def end_round(
    conn: Connection,
    application_id: UUID,
    opened: datetime,
    window: timedelta,
    by: str,
    reason: str,
    now: datetime,
) -> None:
    """The round ends at ``now`` as ``bidding_round`` then ``close_round`` would leave it (made first
    if bidding was never touched; a round closed already stays as it was), in one statement."""
    await conn.execute(
        """
        INSERT INTO caas_core.bidding_rounds AS r
            (application_id, opened_at, closes_at, closed_at, closed_by, close_reason)
        VALUES ($1, $2, least($3::timestamptz, greatest($6::timestamptz, $2)), $6, $4, $5)
        ON CONFLICT (application_id) DO UPDATE
        SET closed_at = EXCLUDED.closed_at, closed_by = EXCLUDED.closed_by,
            close_reason = EXCLUDED.close_reason,
            closes_at = least(r.closes_at, greatest(EXCLUDED.closed_at, r.opened_at))
        WHERE r.closed_at IS NULL
        """,
        application_id,
        opened,
        opened + window,
        by,
        reason,
        now,
    )
