"""Placing a bid is one statement (issue 14): the bid, its audit row, its ``bid.placed`` event, the
invitation marked ``bid_submitted`` (tallied once as the lender's approving decision) and the lender's
row, locked FOR SHARE: the lender's other bids go on beside it, a suspension waits for it. The event it
writes is the one ``bid_event`` writes from the stored row, however the rate and the validity were
given."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from database.marketplace.bids import PgBidWriter
from mcp_servers.runtime import Runtime
from tests.database.marketplace.test_bids import undone
from tests.helpers.bidding import CURRENCY, market
from tests.helpers.statements import Counted
from tools.loans.domain.schedules import Frequency, Method
from tools.marketplace.bid_events import bid_event, placed_fields
from tools.marketplace.domain.bids import BidTerms, NewBid
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role


async def test_the_bid_its_audit_event_invitation_and_lender_row_are_one_statement(
    server: Any, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    async with Client(server) as mono:
        app, (lender,) = await market(mono, principal, country, lenders=1)
    app_id, provider_id = uuid.UUID(app["id"]), uuid.UUID(lender)
    decided = "SELECT decided_count, approved_count FROM caas_core.providers WHERE id = $1"
    before = await core_db.fetchrow(decided, provider_id)
    # A rate with all six stored decimals and a validity given in another time zone, to the microsecond.
    valid_until = (datetime.now(UTC) + timedelta(days=3)).astimezone(timezone(timedelta(hours=1)))
    terms = BidTerms(
        amount_minor=25_000_000, currency=CURRENCY, annual_rate=Decimal("0.123457"), term_months=12,
        origination_fee_minor=250_000, repayment_frequency=Frequency.MONTHLY, schedule_method=Method.ANNUITY,
        valid_until=valid_until.replace(microsecond=123456), conditions=None,
    )  # fmt: skip
    lender_user = Principal("lender-user", Role.PROVIDER, lender)
    call = Invocation(lender_user, "providers_place_bid", "ab" * 32, "req-1", "203.0.113.9")
    async with undone(core_db):
        counted = Counted(core_db)
        new = NewBid(app_id, provider_id, 1, terms)
        writer = PgBidWriter(counted)  # type: ignore[arg-type]
        placed, locked = await writer.place(new, call, placed_fields(new, app["reference"]))
        assert counted.sent == 1
        assert (placed.application_id, placed.provider_id, placed.version, placed.status) == (
            app_id, provider_id, 1, "active",
        )  # fmt: skip
        assert placed.terms() == terms
        assert locked is not None and locked.id == provider_id
        # The lender's decision is tallied apart (migration 0046); its row is only shared, not written.
        assert (locked.decided_count, locked.approved_count) == tuple(before)
        tallied = await core_db.fetch(
            "SELECT approved FROM caas_core.provider_decision_tallies WHERE provider_id = $1", provider_id
        )
        assert [r["approved"] for r in tallied] == [True]
        event = await core_db.fetchrow(
            "SELECT aggregate_type, aggregate_id, event_type, payload FROM caas_core.outbox "
            "WHERE aggregate_id = $1",
            str(placed.id),
        )
        expected = bid_event("bid.placed", placed, app["reference"])
        assert event is not None
        assert (event["aggregate_type"], event["aggregate_id"], event["event_type"]) == (
            "bid", str(placed.id), "bid.placed",
        )  # fmt: skip
        assert event["payload"] == expected.payload
        audit = await core_db.fetchrow(
            "SELECT principal_id, provider_id, tool, object_type, args_sha256, outcome, request_id, "
            "host(client_ip) AS ip FROM caas_audit.audit_log WHERE object_id = $1",
            str(placed.id),
        )
        assert audit is not None and dict(audit.items()) == {
            "principal_id": "lender-user", "provider_id": lender, "tool": "providers_place_bid",
            "object_type": "bid", "args_sha256": "ab" * 32, "outcome": "succeeded", "request_id": "req-1",
            "ip": "203.0.113.9",
        }  # fmt: skip
        status = await core_db.fetchval(
            "SELECT status FROM caas_core.provider_invitations WHERE application_id = $1 "
            "AND provider_id = $2",
            app_id,
            provider_id,
        )
        assert status == "bid_submitted"


async def test_a_bid_shares_its_lenders_row_with_the_lenders_other_bids_but_not_with_a_change(
    server: Any, principal: Any, core_db: asyncpg.Connection, country: str, runtime: Runtime
) -> None:
    """Every bid of one lender queued on its row from its statement to COMMIT, for the decision counts
    it wrote there: now, while a bid is uncommitted, another can share the row at once, and a change of
    the lender (a suspension, a capital change, an offer's reservation) still waits for it."""
    async with Client(server) as mono:
        app, (lender,) = await market(mono, principal, country, lenders=1)
    app_id, provider_id = uuid.UUID(app["id"]), uuid.UUID(lender)
    terms = BidTerms(
        amount_minor=25_000_000, currency=CURRENCY, annual_rate=Decimal("0.2"), term_months=12,
        origination_fee_minor=0, repayment_frequency=Frequency.MONTHLY, schedule_method=Method.ANNUITY,
        valid_until=datetime.now(UTC) + timedelta(days=3), conditions=None,
    )  # fmt: skip
    call = Invocation(Principal("lender-user", Role.PROVIDER, lender), "providers_place_bid", "ab" * 32)
    assert runtime.targets is not None
    other = await asyncpg.connect(runtime.targets.direct_core)
    try:
        async with undone(core_db):
            new = NewBid(app_id, provider_id, 1, terms)
            await PgBidWriter(core_db).place(new, call, placed_fields(new, app["reference"]))  # type: ignore[arg-type]
            async with other.transaction():
                shared = "SELECT id FROM caas_core.providers WHERE id = $1 FOR SHARE NOWAIT"
                assert await other.fetchval(shared, provider_id) == provider_id
            with pytest.raises(asyncpg.LockNotAvailableError):
                async with other.transaction():
                    await other.execute(
                        "SELECT id FROM caas_core.providers WHERE id = $1 FOR NO KEY UPDATE NOWAIT",
                        provider_id,
                    )
    finally:
        await other.close()
