"""The candidate statement of database/marketplace/providers.py (the indexed form of migration 0010) selects
exactly what the plain matching criteria select, and ranks by the documented fit_score, for hundreds of varied
providers and requests, whichever way PostgreSQL plans it."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from database.marketplace.providers import CANDIDATES_CALL, CANDIDATES_SQL, candidate_args
from tests.helpers.providers import uid
from tools.marketplace.domain.matching import MatchRequest, fit_score

# The criteria of tools.marketplace.domain.matching on the provider's own columns, as the statement tested
# them before migration 0010 coded them into fixed-width columns: the indexed statement must select alike,
# and rank those by the documented fit_score.
PLAIN_SQL = """
SELECT p.id, p.min_annual_rate, p.max_annual_rate, p.capital_available_minor, p.approved_count,
       p.decided_count
FROM caas_core.providers p
WHERE p.status = 'active'
  AND p.currency = $1::bpchar
  AND p.min_amount_minor <= $4::bigint AND p.max_amount_minor >= $4::bigint
  AND p.capital_available_minor >= $4::bigint
  AND p.min_term_months <= $5::smallint AND p.max_term_months >= $5::smallint
  AND p.min_score <= $6::smallint
  AND p.max_dti >= $7::numeric
  AND p.countries @> ARRAY[$2::text]
  AND p.accepted_grades @> ARRAY[$3::text]
  AND $8::float8 IS NOT NULL AND $9::float8 IS NOT NULL AND $10::int IS NOT NULL
"""
PARITY_COLUMNS = (
    "name, provider_type, status, suspended_reason, suspended_at, suspended_by, currency, countries, "
    "accepted_grades, min_score, max_dti, min_term_months, max_term_months, min_amount_minor, "
    "max_amount_minor, capital_available_minor, min_annual_rate, max_annual_rate, commission_plan, "
    "webhook_url, webhook_secret_encrypted, decided_count, approved_count, created_by"
)
PARITY_COUNTRIES = ["MU", "SC", "RE", "KM", "MG"]
# Arrays the CHECKs allow though the application never writes them: other bounds, two dimensions,
# a NULL element, every country.
ODD_COUNTRIES = ["[2:2]={MU}", "{{MU}}", "{MU,NULL}", "{SC,MU,RE,KM,MG}"]


def parity_provider(rnd: random.Random, n: int) -> tuple[Any, ...]:
    low = rnd.choice([100, 1_000, 10_000, 100_000])
    min_term = rnd.choice([1, 6, 12, 13])
    min_rate = Decimal(rnd.randint(500, 6000)) / 10000
    decided = rnd.choice([0, 0, 3, 40, 500])
    suspended = rnd.random() < 0.1
    return (
        uid(f"Parity {n}"),
        rnd.choice(["bank", "fintech", "microfinance", "p2p_lending"]),
        "suspended" if suspended else "active",
        "parity test" if suspended else None,
        datetime.now(UTC) if suspended else None,
        "tests" if suspended else None,
        # XTS is ISO 4217's code for testing; BAA is what "A[A" would collide with if unchecked.
        rnd.choice(["XTS"] * 8 + ["XTT", "BAA"]),
        rnd.sample(PARITY_COUNTRIES, rnd.choice([1, 1, 1, 2, 3])),
        sorted(rnd.sample("ABCDE", rnd.randint(1, 5))),
        rnd.randint(300, 850),
        Decimal(rnd.choice([1, 2500, 3499, 3500, 3501, 4500, 9999, 10000])) / 10000,
        min_term,
        max(min_term, rnd.choice([6, 11, 12, 24, 600])),
        low,
        low * rnd.choice([1, 10, 100]),
        rnd.choice([0, low, low * 19, low * 20, low * 1000]),
        min_rate,
        min_rate + Decimal(rnd.choice([0, 200, 600, 1500])) / 10000,
        {"principal_rate": "0.085", "tiers": [], "caps": [], "interest_share": "0"},
        "https://parity.example.com/hook",
        b"x",
        decided,
        int(decided * rnd.random()),
        "tests",
    )


def parity_request(rnd: random.Random) -> MatchRequest:
    dti = rnd.choice(["0.35", "0.3499", "0.3501", "0.35000001", "0.34999999", "0.0001", "0.00001"])
    if rnd.random() < 0.2:
        dti = rnd.choice(["0", "-0.2", "1", "1.00001", "7", "0.9999", "0.99999"])
    return MatchRequest(
        rnd.choice(["XTS"] * 6 + ["XTT", "BAA", "A[A", "XTS ", "xts", "XT", ""]),
        rnd.choice([*PARITY_COUNTRIES, *PARITY_COUNTRIES, "mu", "M", "MUS", "ZZ", ""]),
        rnd.choice([100, 999, 1_000, 10_000, 50_000, 100_000, 1_000_000, 10_000_000]),
        rnd.choice([1, 6, 11, 12, 12, 12, 13, 24, 600]),
        rnd.choice([*"ABCDE", *"ABCDE", "F", "a", "AB", ""]),
        rnd.choice([rnd.randint(280, 870), rnd.randint(700, 850), 850]),
        Decimal(dti),
        Decimal(rnd.choice(["0.12", "0.18", "0.3"])),
        Decimal(rnd.choice(["0.12", "0.24", "0.6"])),
    )


async def expected_ranking(db: asyncpg.Connection, request: MatchRequest, limit: int) -> list[Any]:
    ranked = []
    for r in await db.fetch(PLAIN_SQL, *candidate_args(request, limit)):
        fit = fit_score(
            r["min_annual_rate"],
            r["max_annual_rate"],
            r["capital_available_minor"],
            r["approved_count"],
            r["decided_count"],
            request,
        )
        ranked.append((r["id"], fit.score))
    ranked.sort(key=lambda c: (-c[1], c[0]))  # fit first, ties by id
    return ranked[:limit]


async def test_the_indexed_statement_selects_as_the_plain_criteria_and_ranks_by_fit_score(
    core_db: asyncpg.Connection,
) -> None:
    # Hundreds of varied providers (several countries, DTI, amount and capital boundaries, odd
    # arrays), made and dropped in one transaction; each request is matched both ways.
    rnd = random.Random(20260101)
    tx = core_db.transaction()
    await tx.start()
    try:
        await core_db.executemany(
            f"INSERT INTO caas_core.providers ({PARITY_COLUMNS}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, 25))})",
            [parity_provider(rnd, n) for n in range(600)],
        )
        ids = await core_db.fetch(
            "SELECT id FROM caas_core.providers WHERE currency = 'XTS' AND status = 'active' "
            "AND name LIKE 'Parity%' ORDER BY id LIMIT 4"
        )
        odd = [  # eligible for the default request but for the country array
            await core_db.fetchrow(
                "UPDATE caas_core.providers SET countries = $2::text::text[], min_score = 300, max_dti = 1, "
                "accepted_grades = '{A,B,C,D,E}', min_term_months = 1, max_term_months = 600, "
                "capital_available_minor = max_amount_minor WHERE id = $1 RETURNING id, min_amount_minor",
                row["id"],
                countries,
            )
            for row, countries in zip(ids, ODD_COUNTRIES, strict=True)
        ]
        requests = [parity_request(rnd) for _ in range(300)]
        usual = MatchRequest("XTS", "MU", 0, 12, "C", 700, Decimal("0.4"), Decimal("0.18"), Decimal("0.24"))
        requests += [
            replace(usual, amount_minor=r["min_amount_minor"], dti=Decimal(dti))
            for dti in ("1.00001", "1")  # max_dti = 1 for these
            for r in odd
        ]
        found = 0
        # Production plans once per connection (generic); a plan for the values (custom) must agree.
        for mode in ("force_generic_plan", "force_custom_plan"):
            await core_db.execute(f"SET LOCAL plan_cache_mode = {mode}")
            for request in requests:
                for limit in (3, 1000):
                    rows = await core_db.fetch(CANDIDATES_SQL, *candidate_args(request, limit))
                    ranked = [(r["provider_id"], r["fit_score"]) for r in rows]
                    # What production runs: the statement in migration 0030's function, row for row.
                    called = await core_db.fetch(CANDIDATES_CALL, *candidate_args(request, limit))
                    assert [dict(r) for r in called] == [dict(r) for r in rows]
                    assert ranked == await expected_ranking(core_db, request, limit), (mode, request)
                found += bool(ranked)
        assert found > len(requests) // 5 * 2  # not a vacuous comparison
        matched = set()
        for request in requests[-len(odd) :]:
            matched |= {
                r["provider_id"] for r in await core_db.fetch(CANDIDATES_SQL, *candidate_args(request, 1000))
            }
        assert {r["id"] for r in odd} <= matched  # each odd array still serves MU
    finally:
        await tx.rollback()


async def test_the_function_runs_the_candidate_statement_with_a_generic_plan(
    core_db: asyncpg.Connection,
) -> None:
    # Its body is CANDIDATES_SQL as written (a changed statement needs a migration), and its SET
    # clause forces the plan made for any values: auto_explain shows the nested statement's plan with
    # the parameters unbound ($4, the amount), where a plan for the values would show the amount.
    source, config = await core_db.fetchrow(
        "SELECT prosrc, proconfig FROM pg_proc WHERE oid = 'caas_core.match_candidates'::regproc"
    )
    assert f"RETURN QUERY\n{CANDIDATES_SQL.strip()};\nEND" in source
    assert config == ["plan_cache_mode=force_generic_plan"]
    plans: list[str] = []
    core_db.add_log_listener(lambda _conn, message: plans.append(message.message))
    request = MatchRequest(
        "XTS", "MU", 123_457, 12, "C", 700, Decimal("0.4"), Decimal("0.18"), Decimal("0.24")
    )
    tx = core_db.transaction()
    await tx.start()
    try:
        await core_db.execute(
            "LOAD 'auto_explain'; SET LOCAL auto_explain.log_min_duration = 0; "
            "SET LOCAL auto_explain.log_nested_statements = on; SET LOCAL client_min_messages = log; "
            "SET LOCAL plan_cache_mode = force_custom_plan"  # the function's own setting wins
        )
        for _ in range(2):
            await core_db.fetch(CANDIDATES_CALL, *candidate_args(request, 3))
    finally:
        await tx.rollback()
    nested = [p for p in plans if "caas_core.providers p" in p and "match_candidates" not in p]
    assert len(nested) == 2
    assert all("$4" in p and "123457" not in p for p in nested), nested
