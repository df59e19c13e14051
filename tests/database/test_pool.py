"""The pool's codecs: numeric is an exact Decimal, json/jsonb are Python data both ways; a released
connection has its transaction rolled back but no reset query run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from database.pool import create_pool


@pytest.fixture(scope="module")
async def pool(fresh_database) -> AsyncIterator[asyncpg.Pool]:  # type: ignore[no-untyped-def]
    p = await create_pool(await fresh_database(), min_size=1, max_size=2)
    try:
        yield p
    finally:
        await p.close()


EXACT = [
    "0.10",
    "-0.0001",
    "250000.00",
    "12345678901234567890.123456789012345678",  # beyond float and beyond Decimal's default precision
    "99999999999999999999999999999999999999.9999",
]


@pytest.mark.parametrize("text", EXACT)
async def test_numeric_comes_back_as_an_exact_decimal(pool, text) -> None:
    from_text = await pool.fetchval("SELECT $1::text::numeric", text)
    assert type(from_text) is Decimal
    assert from_text == Decimal(text)
    # Digit for digit what PostgreSQL holds, trailing zeros (the scale) included.
    assert str(from_text) == await pool.fetchval("SELECT $1::text::numeric::text", text)
    round_trip = await pool.fetchval("SELECT $1::numeric", Decimal(text))
    assert type(round_trip) is Decimal
    assert round_trip == Decimal(text)


async def test_numeric_keeps_the_column_scale(pool) -> None:
    value = await pool.fetchval("SELECT 250000::numeric(20, 4)")
    assert str(value) == "250000.0000"
    assert await pool.fetchval("SELECT 0.1::numeric + 0.2::numeric") == Decimal("0.3")
    assert await pool.fetchval("SELECT (10::numeric ^ 30) + 1") == Decimal(10**30 + 1)


DOCUMENTS = [
    {"reference": "CAAS-2026-000001", "amount": "250000.00", "currency": "NGN"},
    {"nested": {"list": [1, 2.5, None, True, "naïve ☃"], "empty": {}}, "big": 2**62},
    [1, "two", {"three": [3]}],
    [],
    {},
]


@pytest.mark.parametrize("cast", ["jsonb", "json"])
@pytest.mark.parametrize("document", DOCUMENTS)
async def test_json_round_trips_as_python_data(pool, cast, document) -> None:
    back = await pool.fetchval(f"SELECT $1::{cast}", document)
    assert back == document
    assert type(back) is type(document)


async def test_jsonb_from_sql_is_decoded_and_its_fields_are_queryable(pool) -> None:
    assert await pool.fetchval("""SELECT '{"a": [1, {"b": null}]}'::jsonb""") == {"a": [1, {"b": None}]}
    document = {"payload": {"amount": "12.50"}}
    assert await pool.fetchval("SELECT $1::jsonb -> 'payload' ->> 'amount'", document) == "12.50"
    assert await pool.fetchval("SELECT jsonb_typeof($1::jsonb)", [1]) == "array"


async def test_jsonb_round_trips_through_a_table(pool) -> None:
    document = {"event": "application.submitted", "amounts": ["1.00", "2.50"], "n": 3}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("CREATE TEMP TABLE docs (body jsonb NOT NULL) ON COMMIT DROP")
        await conn.execute("INSERT INTO docs VALUES ($1)", document)
        assert await conn.fetchval("SELECT body FROM docs") == document
        assert await conn.fetchval("SELECT body ->> 'event' FROM docs") == "application.submitted"


async def test_every_pooled_connection_has_the_codecs(pool) -> None:
    async with pool.acquire() as a, pool.acquire() as b:
        for conn in (a, b):
            assert await conn.fetchval("SELECT '[1]'::jsonb") == [1]


async def test_release_rolls_back_an_open_transaction_and_runs_no_reset_query(pool) -> None:
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        # Session state that asyncpg's default reset (RESET ALL) would undo, and an open transaction.
        await conn.execute("SET application_name = 'left-behind'")
        tx = conn.transaction()
        await tx.start()
        await conn.execute("CREATE TEMP TABLE rolled_back (x int) ON COMMIT DROP")
    async with pool.acquire() as a, pool.acquire() as b:
        conn = a if await a.fetchval("SELECT pg_backend_pid()") == pid else b
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT to_regclass('pg_temp.rolled_back')") is None
        assert await conn.fetchval("SHOW application_name") == "left-behind"
        await conn.execute("RESET application_name")
