"""The bids table's guarantees live in the database, whoever writes: one accepted bid per application,
one active bid per provider and application, terms that never change, final statuses that stay final,
no deletes; and a capital reservation never takes a provider below zero.

Each test arranges its rows through the tools, then tries its writes in a transaction that is rolled
back, so nothing it forces stays behind."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from database.marketplace.bids import PgBidWriter
from tests.helpers.bidding import market, place
from tests.helpers.statements import Counted
from tools.platform.errors import Conflict

UNIQUE_VIOLATION = "23505"
CHECK_VIOLATION = "23514"
INSUFFICIENT_PRIVILEGE = "42501"
ACCEPT = "UPDATE caas_core.bids SET status = 'accepted', accepted_at = now() WHERE id = $1"
SECOND_ACTIVE = """
INSERT INTO caas_core.bids (application_id, provider_id, version, amount_minor, currency, annual_rate,
    term_months, repayment_frequency, valid_until, created_by)
SELECT application_id, provider_id, version + 1, amount_minor, currency, annual_rate, term_months,
    repayment_frequency, valid_until, 'tests'
FROM caas_core.bids WHERE id = $1
"""


@pytest.fixture
async def mono(server: Any) -> AsyncIterator[Client]:
    async with Client(server) as c:
        yield c


async def two_bids(mono: Client, principal: Any, country: str) -> tuple[list[uuid.UUID], str]:
    """Two providers' active bids on a new application; the ids, and the first provider."""
    app, (a, b) = await market(mono, principal, country, lenders=2)
    bids = [await place(mono, principal, app, p) for p in (a, b)]
    return [uuid.UUID(x["id"]) for x in bids], a


@contextlib.asynccontextmanager
async def undone(db: asyncpg.Connection) -> AsyncIterator[None]:
    tx = db.transaction()
    await tx.start()
    try:
        yield
    finally:
        await tx.rollback()


async def refused_with(db: asyncpg.Connection, sqlstate: str, sql: str, *args: Any) -> None:
    with pytest.raises(asyncpg.PostgresError) as caught:
        async with db.transaction():  # a savepoint inside the test's transaction
            await db.execute(sql, *args)
    assert caught.value.sqlstate == sqlstate, caught.value


async def test_one_accepted_bid_per_application(
    mono: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    (first, second), _ = await two_bids(mono, principal, country)
    async with undone(core_db):
        await core_db.execute(ACCEPT, first)
        await refused_with(core_db, UNIQUE_VIOLATION, ACCEPT, second)
        no_time = "UPDATE caas_core.bids SET status = 'accepted' WHERE id = $1"
        await refused_with(core_db, CHECK_VIOLATION, no_time, second)


async def test_terms_are_history_and_final_statuses_stay_final(
    mono: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    (first, second), _ = await two_bids(mono, principal, country)
    async with undone(core_db):
        for change in ("annual_rate = 0.1", "valid_until = now()", "amount_minor = 1", "created_by = 'x'"):
            await refused_with(
                core_db, CHECK_VIOLATION, f"UPDATE caas_core.bids SET {change} WHERE id = $1", first
            )
        await core_db.execute("UPDATE caas_core.bids SET status = 'withdrawn' WHERE id = $1", second)
        back = "UPDATE caas_core.bids SET status = 'active' WHERE id = $1"
        await refused_with(core_db, CHECK_VIOLATION, back, second)
        await refused_with(core_db, INSUFFICIENT_PRIVILEGE, "DELETE FROM caas_core.bids WHERE id = $1", first)
        await refused_with(core_db, UNIQUE_VIOLATION, SECOND_ACTIVE, first)


async def test_a_reservation_never_takes_capital_below_zero(
    mono: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    _, provider = await two_bids(mono, principal, country)
    provider_id = uuid.UUID(provider)
    have = await core_db.fetchval(
        "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", provider_id
    )
    async with undone(core_db):
        writer = PgBidWriter(core_db)
        assert await writer.reserve_capital(provider_id, have) == 0
        with pytest.raises(Conflict):
            await writer.reserve_capital(provider_id, 1)


async def test_acceptance_reserves_in_the_statement_that_finds_no_invited_lender_waiting(
    mono: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    app, (a, b, c) = await market(mono, principal, country, lenders=3)
    for p in (a, b):
        await place(mono, principal, app, p)
    app_id, lender = uuid.UUID(app["id"]), uuid.UUID(a)
    capital = "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1"
    have = await core_db.fetchval(capital, lender)
    async with undone(core_db):
        counted = Counted(core_db)
        writer = PgBidWriter(counted)  # type: ignore[arg-type]
        # c never bid: nothing is reserved (the caller locks every row in id order first).
        assert await writer.reserve_or_waiting(app_id, lender, 1_000) == [uuid.UUID(c)]
        assert counted.sent == 1 and await core_db.fetchval(capital, lender) == have
        await core_db.execute(
            "UPDATE caas_core.provider_invitations SET status = 'expired' WHERE application_id = $1 "
            "AND provider_id = $2",
            app_id,
            uuid.UUID(c),
        )
        counted.sent = 0
        assert await writer.reserve_or_waiting(app_id, lender, 1_000) == []
        assert counted.sent == 1 and await core_db.fetchval(capital, lender) == have - 1_000
        # Refused as reserve_capital refuses: more than it has, or a suspended lender.
        with pytest.raises(Conflict, match="capital"):
            async with core_db.transaction():
                await writer.reserve_or_waiting(app_id, lender, have)
        await core_db.execute(
            "UPDATE caas_core.providers SET status = 'suspended', suspended_reason = 'tests', "
            "suspended_at = now(), suspended_by = 'tests' WHERE id = $1",
            lender,
        )
        with pytest.raises(Conflict, match="suspended"):
            await writer.reserve_or_waiting(app_id, lender, 1)


async def test_a_round_is_made_once_then_read_as_stored_in_one_statement(
    mono: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    (first, _), _ = await two_bids(mono, principal, country)
    app_id = await core_db.fetchval("SELECT application_id FROM caas_core.bids WHERE id = $1", first)
    stored = await core_db.fetchrow(
        "SELECT * FROM caas_core.bidding_rounds WHERE application_id = $1", app_id
    )
    async with undone(core_db):
        writer = PgBidWriter(core_db)
        # Already made by the bids: a later window changes nothing.
        again = await writer.round(app_id, stored["opened_at"], timedelta(days=99))
        assert (again.opened_at, again.closes_at) == (stored["opened_at"], stored["closes_at"])
        await core_db.execute("DELETE FROM caas_core.bidding_rounds WHERE application_id = $1", app_id)
        opened = datetime(2026, 1, 2, tzinfo=UTC)
        made = await writer.round(app_id, opened, timedelta(hours=48))
        assert (made.opened_at, made.closes_at, made.closed_at) == (
            opened,
            opened + timedelta(hours=48),
            None,
        )
        assert await writer.round(app_id, opened, timedelta(hours=1)) == made


async def test_bidding_state_is_read_in_one_statement_and_makes_the_round_only_when_open(
    mono: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    (first, _), provider = await two_bids(mono, principal, country)
    app_id = await core_db.fetchval("SELECT application_id FROM caas_core.bids WHERE id = $1", first)
    pid, window, opened = uuid.UUID(provider), timedelta(hours=48), datetime(2026, 1, 2, tzinfo=UTC)
    async with undone(core_db):
        writer = PgBidWriter(core_db)
        state = await writer.bidding_state(app_id, pid, True, opened, window)
        assert state.invitation == "bid_submitted" and state.next_version == 2
        assert state.standing is not None and (state.standing.id, state.standing.version) == (first, 1)
        assert state.provider is not None and state.provider.id == pid
        assert state.standing.provider_name == state.provider.name
        assert state.round is not None and state.round.opened_at != opened  # the stored round
        withdrawn = await writer.set_status(first, "withdrawn")
        assert (withdrawn.id, withdrawn.status) == (first, "withdrawn")
        again = await writer.bidding_state(app_id, pid, True, opened, window)
        assert (again.standing, again.next_version) == (None, 2)
        stranger = await writer.bidding_state(app_id, uuid.uuid4(), True, opened, window)
        assert (stranger.invitation, stranger.round, stranger.provider, stranger.next_version) == (
            None,
            None,
            None,
            1,
        )
        # No round is made for an application that is not open, nor for a provider not invited.
        await core_db.execute("DELETE FROM caas_core.bidding_rounds WHERE application_id = $1", app_id)
        closed = await writer.bidding_state(app_id, pid, False, opened, window)
        assert closed.round is None
        assert (await writer.bidding_state(app_id, uuid.uuid4(), True, opened, window)).round is None
        rounds = "SELECT count(*) FROM caas_core.bidding_rounds WHERE application_id = $1"
        assert await core_db.fetchval(rounds, app_id) == 0
        made = await writer.bidding_state(app_id, pid, True, opened, window)
        assert made.round is not None and (made.round.opened_at, made.round.closes_at) == (
            opened,
            opened + window,
        )
        assert await core_db.fetchval(rounds, app_id) == 1


async def test_ending_a_round_makes_it_closed_or_closes_it_once(
    mono: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    (first, _), _ = await two_bids(mono, principal, country)
    app_id = await core_db.fetchval("SELECT application_id FROM caas_core.bids WHERE id = $1", first)
    rounds = "SELECT * FROM caas_core.bidding_rounds WHERE application_id = $1"
    opened, window = datetime(2026, 1, 2, tzinfo=UTC), timedelta(hours=48)
    async with undone(core_db):
        writer = PgBidWriter(core_db)
        await core_db.execute("DELETE FROM caas_core.bidding_rounds WHERE application_id = $1", app_id)
        now = opened + timedelta(hours=1)
        await writer.end_round(app_id, opened, window, "op-1", "offer accepted", now)
        made = await core_db.fetchrow(rounds, app_id)
        assert (made["opened_at"], made["closes_at"], made["closed_at"]) == (opened, now, now)
        assert (made["closed_by"], made["close_reason"]) == ("op-1", "offer accepted")
        # A closed round stays as it was.
        await writer.end_round(app_id, opened, window, "op-2", "again", now + timedelta(hours=1))
        assert await core_db.fetchrow(rounds, app_id) == made
        # An open round closes now, as close_round closes it.
        await core_db.execute("DELETE FROM caas_core.bidding_rounds WHERE application_id = $1", app_id)
        await writer.round(app_id, opened, window)
        later = opened + timedelta(hours=3)
        await writer.end_round(app_id, opened, window, "op-3", "offer accepted", later)
        closed = await core_db.fetchrow(rounds, app_id)
        assert (closed["closes_at"], closed["closed_at"], closed["closed_by"]) == (later, later, "op-3")
