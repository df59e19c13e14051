"""Placing a bid in one statement (issue 14): the bid, its audit row, its ``bid.placed`` event, the
invitation marked ``bid_submitted`` (the lender's decision tallied, migration 0046) and the lender's row
locked; three round trips before.

The lender's row is locked last, as ``tools.platform.locking`` orders it, and FOR SHARE: held to COMMIT,
it keeps a suspension or a capital change of the lender waiting, but not the lender's other bids (its
decision counts were updated here, which queued every bid of one lender on its row). The event's
payload comes from the use case (``tools.marketplace.bid_events.placed_fields``) but for what only the
stored row knows, which the statement adds in the very form ``bid_event`` writes from the row.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import asyncpg

from database.platform.audit import Connection, audit_args, audit_row_sql, iso_timestamp_sql
from tools.loans.domain.commission_plan import CommissionPlan
from tools.marketplace.domain.bids import BidRecord, NewBid
from tools.marketplace.domain.providers import ProviderRecord
from tools.platform.errors import Conflict
from tools.platform.ports import Invocation

__all__ = ["place_bid"]

_BID = [f.name for f in fields(BidRecord)]
_PROVIDER = [f.name for f in fields(ProviderRecord)]
_BID_SOURCE = {"provider_name": "l.name", "provider_status": "l.status"}
_SELECT = ", ".join(
    [f"{_BID_SOURCE.get(c, 'b.' + c)} AS b_{c}" for c in _BID] + [f"l.{c} AS l_{c}" for c in _PROVIDER]
)
_PLACE = f"""
WITH written AS (
    INSERT INTO caas_core.bids (application_id, provider_id, version, amount_minor, currency, annual_rate,
        term_months, origination_fee_minor, repayment_frequency, schedule_method, valid_until, conditions,
        created_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING *
), audit AS ({audit_row_sql(14, "bid", "w.id::text", "written w")}
), event AS (
    INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload)
    SELECT 'bid', id::text, 'bid.placed', $21::text::jsonb || jsonb_build_object(
        'bid_id', id::text, 'status', status, 'annual_rate', annual_rate::text,
        'valid_until', {iso_timestamp_sql("valid_until")})
    FROM written
), marked AS (
    UPDATE caas_core.provider_invitations SET status = 'bid_submitted'
    WHERE application_id = $1 AND provider_id = $2 AND status = 'invited'
    RETURNING provider_id
), tallied AS (
    INSERT INTO caas_core.provider_decision_tallies (provider_id, approved)
    SELECT provider_id, true FROM marked
), lender AS (
    SELECT * FROM caas_core.providers WHERE id = $2 FOR SHARE
)
SELECT {_SELECT} FROM written b LEFT JOIN lender l ON true
"""


def _part(row: asyncpg.Record, prefix: str, names: list[str]) -> dict[str, Any]:
    return {n: row[prefix + n] for n in names}


async def place_bid(
    conn: Connection, new: NewBid, call: Invocation, event_fields: dict[str, Any]
) -> tuple[BidRecord, ProviderRecord | None]:
    """The stored bid, and the lender's row as this statement locked it (None if it does not exist)."""
    t = new.terms
    try:
        row = await conn.fetchrow(
            _PLACE,
            new.application_id, new.provider_id, new.version, t.amount_minor, t.currency, t.annual_rate,
            t.term_months, t.origination_fee_minor, t.repayment_frequency.value, t.schedule_method.value,
            t.valid_until, t.conditions, call.principal.subject,
            *audit_args(call),
            json.dumps(event_fields),
        )  # fmt: skip
    except asyncpg.UniqueViolationError:  # pragma: no cover - the application row lock orders writers
        raise Conflict("your provider already has an active bid on this application") from None
    assert row is not None
    bid = _part(row, "b_", _BID)
    bid["currency"] = bid["currency"].strip()
    if row["l_id"] is None:
        return BidRecord(**bid), None
    lender = _part(row, "l_", _PROVIDER)
    lender["commission_plan"] = CommissionPlan.model_validate(lender["commission_plan"])
    return BidRecord(**bid), ProviderRecord(**lender)
