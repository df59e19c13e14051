"""Matching open applications to providers, explanations and invitations, through a real MCP client.

Every test lends in its own market (MUR, Mauritius) after suspending what earlier tests left there,
so a ranking holds exactly the providers the test made. The default market application asks for
250000.00 MUR over 12 months and was assessed grade B, score 700, DTI 0.35, band 18%-24%.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from database.providers import CANDIDATES_SQL, candidate_args
from mcp_servers.runtime import Runtime
from tests.providers_support import (
    INVITATIONS,
    MATCH,
    REACTIVATE,
    SUSPEND,
    call,
    clear_market,
    market_body,
    open_application,
    refused,
    uid,
)
from tools.domain.matching import MatchRequest, fit_score
from tools.principal import Role


@pytest.fixture
async def market(core_db: asyncpg.Connection) -> asyncpg.Connection:
    await clear_market(core_db)
    return core_db


async def lender(client: Client, principal: Any, **overrides: Any) -> str:
    principal(uid("op"), Role.OPERATOR)
    done = await call(client, "admin_onboard_provider", {"provider": market_body(**overrides)})
    return str(done["provider"]["id"])


def as_operator(principal: Any) -> None:
    principal(uid("op"), Role.OPERATOR)


# One provider failing exactly one criterion each, against the default market application.
FAILING = {
    "currency": {"currency": "SCR", "countries": ["MU"]},
    "country": {"countries": ["SC", "RE"]},
    "min_amount": {"min_amount": "250000.01", "max_amount": "900000.00"},
    "max_amount": {"max_amount": "249999.99"},
    "min_term": {"min_term_months": 13, "max_term_months": 24},
    "max_term": {"min_term_months": 1, "max_term_months": 11},
    "grade": {"accepted_grades": ["A"]},
    "min_score": {"min_score": 701},
    "max_dti": {"max_dti": "0.3499"},
    "capital": {"capital_available": "249999.99"},
}


async def test_every_criterion_excludes_and_the_explanation_names_it_with_both_values(
    client: Client, principal: Any, market: asyncpg.Connection
) -> None:
    # Each boundary itself is inside: amount = min = max = capital, score = min, DTI = max, term = min = max.
    edge = await lender(
        client,
        principal,
        min_amount="250000.00",
        max_amount="250000.00",
        capital_available="250000.00",
        min_term_months=12,
        max_term_months=12,
        accepted_grades=["B"],
        min_score=700,
        max_dti="0.35",
    )
    failing = {criterion: await lender(client, principal, **o) for criterion, o in FAILING.items()}
    suspended = await lender(client, principal)
    await call(client, SUSPEND, {"provider_id": suspended, "reason": "compliance hold"})
    app = await open_application(client, principal, market)

    as_operator(principal)
    asked = [edge, *failing.values(), suspended]
    report = await call(client, MATCH, {"application": app["id"], "explain_provider_ids": asked})
    assert [r["provider_id"] for r in report["ranking"]] == [edge]
    assert report["more_eligible"] is False and report["invited"] is False
    why = {e["provider_id"]: e for e in report["explanations"]}
    assert why[edge]["eligible"] and why[edge]["rank"] == 1 and why[edge]["unmet"] == []
    for criterion, provider_id in failing.items():
        unmet = why[provider_id]["unmet"]
        assert [u["criterion"] for u in unmet] == [criterion], criterion
        assert not why[provider_id]["eligible"] and why[provider_id]["rank"] is None
    assert why[suspended]["unmet"][0] | {"message": ""} == {
        "criterion": "status",
        "required": "active",
        "actual": "suspended",
        "message": "",
    }
    values = {c: (why[p]["unmet"][0]["required"], why[p]["unmet"][0]["actual"]) for c, p in failing.items()}
    assert values["min_amount"] == (">= 250000.01 MUR", "250000.00 MUR")
    assert values["capital"] == (">= 250000.00 MUR", "249999.99 MUR")
    assert values["country"] == ("SC, RE", "MU")
    assert values["grade"] == ("A", "B")
    assert values["min_score"] == (">= 701", "700")
    assert values["max_dti"] == ("<= 0.3499", "0.3500")
    assert values["currency"] == ("SCR", "MUR")


async def test_a_suspended_provider_is_never_matched_until_reactivated(
    client: Client, principal: Any, market: asyncpg.Connection
) -> None:
    provider_id = await lender(client, principal)
    app = await open_application(client, principal, market)
    as_operator(principal)
    await call(client, SUSPEND, {"provider_id": provider_id, "reason": "capital call pending"})
    report = await call(client, MATCH, {"application": app["id"], "invite": True})
    assert report["ranking"] == [] and report["invitations_created"] == 0
    await call(client, REACTIVATE, {"provider_id": provider_id})
    report = await call(client, MATCH, {"application": app["id"], "invite": True})
    assert [r["provider_id"] for r in report["ranking"]] == [provider_id]
    assert report["invitations_created"] == 1


async def test_ranking_follows_the_documented_fit_score(
    client: Client, principal: Any, market: asyncpg.Connection, runtime: Runtime
) -> None:
    # Band 18%-24%. cheap: mid 18% (rate 1); dear: mid 24% (rate 0); rich: mid 21% with 20x capital.
    cheap = await lender(client, principal, min_annual_rate="0.16", max_annual_rate="0.20")
    dear = await lender(client, principal, min_annual_rate="0.20", max_annual_rate="0.28")
    rich = await lender(
        client, principal, min_annual_rate="0.18", max_annual_rate="0.24", capital_available="5000000.00"
    )
    proven = await lender(client, principal, min_annual_rate="0.20", max_annual_rate="0.28")
    await market.execute(  # decisions are counted by the bidding flow; arranged here
        "UPDATE caas_core.providers SET decided_count = 30, approved_count = 27 WHERE id = $1",
        uuid.UUID(proven),
    )
    app = await open_application(client, principal, market)
    as_operator(principal)
    report = await call(client, MATCH, {"application": app["id"]})
    order = [r["provider_id"] for r in report["ranking"]]
    # capital 100000000.00 for all but rich: headroom 1 for every one of them.
    # cheap 50+30+10 = 90; rich 25+30+10 = 65; proven 0+30+0.2*(32/40)*100 = 46; dear 0+30+10 = 40.
    assert order == [cheap, rich, proven, dear]
    scores = [r["fit"]["score"] for r in report["ranking"]]
    assert scores == ["90.00", "65.00", "46.00", "40.00"]
    assert report["ranking"][0]["fit"] == {
        "score": "90.00",
        "rate": "1.0000",
        "capital": "1.0000",
        "approval": "0.5000",
    }

    # The database ranks with exactly the documented function.
    request = MatchRequest(
        "MUR", "MU", 25_000_000, 12, "B", 700, Decimal("0.35"), Decimal("0.18"), Decimal("0.24")
    )
    found = await runtime.deps.matching.providers.candidates(request, 10)
    for c in found.ranked:
        expected = fit_score(
            c.min_annual_rate,
            c.max_annual_rate,
            c.capital_available_minor,
            c.approved_count,
            c.decided_count,
            request,
        )
        assert c.fit_score == expected.score


async def test_limit_ranks_the_best_and_explains_the_rest(
    client: Client, principal: Any, market: asyncpg.Connection
) -> None:
    best = await lender(client, principal, min_annual_rate="0.10", max_annual_rate="0.12")
    second = await lender(client, principal)
    app = await open_application(client, principal, market)
    as_operator(principal)
    report = await call(
        client, MATCH, {"application": app["id"], "limit": 1, "explain_provider_ids": [second]}
    )
    assert [r["provider_id"] for r in report["ranking"]] == [best] and report["more_eligible"] is True
    explanation = report["explanations"][0]
    assert (
        explanation["eligible"] and explanation["rank"] is None and "below the best 1" in explanation["note"]
    )
    missing = str(uuid.uuid4())
    report = await call(client, MATCH, {"application": app["id"], "explain_provider_ids": [missing]})
    assert report["explanations"][0]["found"] is False


async def invitations_and_events(db: asyncpg.Connection, app_id: str) -> tuple[list[Any], list[Any]]:
    invitations = await db.fetch(
        "SELECT * FROM caas_core.provider_invitations WHERE application_id = $1 ORDER BY rank",
        uuid.UUID(app_id),
    )
    events = await db.fetch(
        "SELECT aggregate_id, payload FROM caas_core.outbox WHERE event_type = 'provider.invited' "
        "AND payload ->> 'application_id' = $1",
        app_id,
    )
    return invitations, events


async def test_invitations_and_events_are_made_once_even_when_matching_runs_twice_or_concurrently(
    server: Any, principal: Any, market: asyncpg.Connection
) -> None:
    async with Client(server) as c:
        lenders = [await lender(c, principal) for _ in range(3)]
        app = await open_application(c, principal, market)
        principal("matcher", Role.SERVICE)
        runs = await asyncio.gather(
            *(call(c, MATCH, {"application": app["id"], "invite": True}) for _ in range(6))
        )
        again = await call(c, MATCH, {"application": app["id"], "invite": True})
    assert sum(r["invitations_created"] for r in runs) == 3 and again["invitations_created"] == 0
    assert all(r["invited"] for r in again["ranking"]) and not any(
        r["newly_invited"] for r in again["ranking"]
    )
    invitations, events = await invitations_and_events(market, app["id"])
    assert sorted(str(i["provider_id"]) for i in invitations) == sorted(lenders)
    assert [i["rank"] for i in invitations] == [1, 2, 3]
    assert sorted(e["aggregate_id"] for e in events) == sorted(lenders)
    payload = events[0]["payload"]
    assert payload["amount"] == "250000.00" and payload["currency"] == "MUR" and payload["grade"] == "B"
    assert payload["invitation_id"] in {str(i["id"]) for i in invitations}
    assert not {"applicant", "full_name", "email", "national_id", "borrower_id"} & payload.keys()


async def test_a_dry_run_invites_nobody(client: Client, principal: Any, market: asyncpg.Connection) -> None:
    await lender(client, principal)
    app = await open_application(client, principal, market)
    as_operator(principal)
    report = await call(client, MATCH, {"application": app["id"]})
    assert len(report["ranking"]) == 1 and not report["ranking"][0]["invited"]
    assert await invitations_and_events(market, app["id"]) == ([], [])


@pytest.mark.parametrize("status", ["submitted", "under_review", "withdrawn"])
async def test_only_an_open_application_is_matched(
    client: Client, principal: Any, market: asyncpg.Connection, status: str
) -> None:
    app = await open_application(client, principal, market, status=status)
    as_operator(principal)
    for invite in (False, True):
        assert await refused(client, MATCH, {"application": app["id"], "invite": invite}) == "conflict"
    assert await refused(client, MATCH, {"application": str(uuid.uuid4())}) == "not_found"


@pytest.mark.parametrize("role", [Role.BORROWER, Role.AGENT, Role.PROVIDER])
async def test_only_staff_match(
    client: Client, principal: Any, market: asyncpg.Connection, role: Role
) -> None:
    app = await open_application(client, principal, market)
    principal(uid("u"), role)
    assert await refused(client, MATCH, {"application": app["id"], "invite": True}) == "permission_denied"


async def test_a_provider_lists_only_its_own_invitations(
    client: Client, principal: Any, market: asyncpg.Connection
) -> None:
    mine = await lender(client, principal)
    other = await lender(client, principal)
    app = await open_application(client, principal, market)
    as_operator(principal)
    await call(client, MATCH, {"application": app["id"], "invite": True})

    principal(uid("lender-user"), Role.PROVIDER, mine)
    page = await call(client, INVITATIONS, {})
    assert {i["provider_id"] for i in page["items"]} == {mine}
    item = page["items"][0]
    assert item["reference"] == app["reference"] and item["requested_amount"] == {
        "amount": "250000.00",
        "currency": "MUR",
    }
    assert (item["grade"], item["score"], item["dti"], item["status"]) == ("B", 700, "0.3500", "invited")
    assert await refused(client, INVITATIONS, {"provider_id": other}) == "permission_denied"
    assert (await call(client, INVITATIONS, {"application": "CAAS-2000-999999"}))["items"] == []
    principal(uid("lender-user"), Role.PROVIDER)
    assert await refused(client, INVITATIONS, {}) == "permission_denied"

    as_operator(principal)
    both = await call(client, INVITATIONS, {"application": app["reference"]})
    assert {i["provider_id"] for i in both["items"]} == {mine, other}
    first = await call(client, INVITATIONS, {"application": app["id"], "limit": 1})
    rest = await call(
        client, INVITATIONS, {"application": app["id"], "limit": 1, "cursor": first["next_cursor"]}
    )
    assert {first["items"][0]["id"], rest["items"][0]["id"]} == {i["id"] for i in both["items"]}
    assert rest["next_cursor"] is None
    assert await refused(client, INVITATIONS, {"application": "CAAS-2000-999999"}) == "not_found"
    principal(uid("b"), Role.BORROWER)
    assert await refused(client, INVITATIONS, {}) == "permission_denied"


# The criteria of tools.domain.matching on the provider's own columns, as the statement tested them
# before migration 0010 coded them into fixed-width columns: the indexed statement must select alike,
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
