"""Matching open applications to providers, explanations and invitations, through a real MCP client.

Every test lends in MUR in a country of its own (the ``country`` fixture, tests/helpers/markets.py), so a
ranking holds exactly the providers the test made. The default market application asks for 250000.00 MUR
over 12 months and was assessed grade B, score 700, DTI 0.35, band 18%-24%.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.errors import error_of
from tests.helpers.providers import (
    INVITATIONS,
    INVITE,
    MATCH,
    REACTIVATE,
    SUSPEND,
    call,
    market_body,
    open_application,
    refused,
    uid,
)
from tools.marketplace.domain.matching import MatchRequest, fit_score
from tools.platform.principal import Role


async def lender(client: Client, principal: Any, country: str, **overrides: Any) -> str:
    principal(uid("op"), Role.OPERATOR)
    done = await call(client, "admin_onboard_provider", {"provider": market_body(country, **overrides)})
    return str(done["provider"]["id"])


def as_operator(principal: Any) -> None:
    principal(uid("op"), Role.OPERATOR)


# One provider failing exactly one criterion each, against the default market application. SC and RE
# are never a test's market (tests/helpers/markets.py RESERVED).
FAILING = {
    "currency": {"currency": "SCR"},
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
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    # Each boundary itself is inside: amount = min = max = capital, score = min, DTI = max, term = min = max.
    edge = await lender(
        client,
        principal,
        country,
        min_amount="250000.00",
        max_amount="250000.00",
        capital_available="250000.00",
        min_term_months=12,
        max_term_months=12,
        accepted_grades=["B"],
        min_score=700,
        max_dti="0.35",
    )
    failing = {criterion: await lender(client, principal, country, **o) for criterion, o in FAILING.items()}
    suspended = await lender(client, principal, country)
    await call(client, SUSPEND, {"provider": suspended, "reason": "compliance hold"})
    app = await open_application(client, principal, core_db, country)

    as_operator(principal)
    asked = [edge, *failing.values(), suspended]
    report = await call(client, MATCH, {"application": app["id"], "explain_providers": asked})
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
    assert values["country"] == ("SC, RE", country)
    assert values["grade"] == ("A", "B")
    assert values["min_score"] == (">= 701", "700")
    assert values["max_dti"] == ("<= 0.3499", "0.3500")
    assert values["currency"] == ("SCR", "MUR")


async def test_a_suspended_provider_is_never_matched_until_reactivated(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    provider_id = await lender(client, principal, country)
    app = await open_application(client, principal, core_db, country)
    as_operator(principal)
    await call(client, SUSPEND, {"provider": provider_id, "reason": "capital call pending"})
    report = await call(client, INVITE, {"application": app["id"]})
    assert report["ranking"] == [] and report["invitations_created"] == 0
    await call(client, REACTIVATE, {"provider": provider_id})
    report = await call(client, INVITE, {"application": app["id"]})
    assert [r["provider_id"] for r in report["ranking"]] == [provider_id]
    assert report["invitations_created"] == 1


async def test_ranking_follows_the_documented_fit_score(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str, runtime: Runtime
) -> None:
    # Band 18%-24%. cheap: mid 18% (rate 1); dear: mid 24% (rate 0); rich: mid 21% with 20x capital.
    cheap = await lender(client, principal, country, min_annual_rate="0.16", max_annual_rate="0.20")
    dear = await lender(client, principal, country, min_annual_rate="0.20", max_annual_rate="0.28")
    rich = await lender(
        client,
        principal,
        country,
        min_annual_rate="0.18",
        max_annual_rate="0.24",
        capital_available="5000000.00",
    )
    proven = await lender(client, principal, country, min_annual_rate="0.20", max_annual_rate="0.28")
    await core_db.execute(  # decisions are counted by the bidding flow; arranged here
        "UPDATE caas_core.providers SET decided_count = 30, approved_count = 27 WHERE id = $1",
        uuid.UUID(proven),
    )
    app = await open_application(client, principal, core_db, country)
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
        "MUR", country, 25_000_000, 12, "B", 700, Decimal("0.35"), Decimal("0.18"), Decimal("0.24")
    )
    found = await runtime.deps.marketplace.providers.candidates(request, 10)
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
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    best = await lender(client, principal, country, min_annual_rate="0.10", max_annual_rate="0.12")
    second = await lender(client, principal, country)
    app = await open_application(client, principal, core_db, country)
    as_operator(principal)
    report = await call(client, MATCH, {"application": app["id"], "limit": 1, "explain_providers": [second]})
    assert [r["provider_id"] for r in report["ranking"]] == [best] and report["more_eligible"] is True
    explanation = report["explanations"][0]
    assert (
        explanation["eligible"] and explanation["rank"] is None and "below the best 1" in explanation["note"]
    )
    missing = str(uuid.uuid4())
    report = await call(client, MATCH, {"application": app["id"], "explain_providers": [missing]})
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
    server: Any, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    async with Client(server) as c:
        lenders = [await lender(c, principal, country) for _ in range(3)]
        app = await open_application(c, principal, core_db, country)
        principal("matcher", Role.SERVICE)
        runs = await asyncio.gather(*(call(c, INVITE, {"application": app["id"]}) for _ in range(6)))
        again = await call(c, INVITE, {"application": app["id"]})
    assert sum(r["invitations_created"] for r in runs) == 3 and again["invitations_created"] == 0
    for run in runs:  # each run reports the invitations made before it (read by its insert) and its own
        assert all(r["invited"] for r in run["ranking"]) and len(run["ranking"]) == 3
        assert sum(r["newly_invited"] for r in run["ranking"]) == run["invitations_created"]
    assert all(r["invited"] for r in again["ranking"]) and not any(
        r["newly_invited"] for r in again["ranking"]
    )
    invitations, events = await invitations_and_events(core_db, app["id"])
    assert sorted(str(i["provider_id"]) for i in invitations) == sorted(lenders)
    assert [i["rank"] for i in invitations] == [1, 2, 3]
    assert sorted(e["aggregate_id"] for e in events) == sorted(lenders)
    payload = events[0]["payload"]
    assert payload["amount"] == "250000.00" and payload["currency"] == "MUR" and payload["grade"] == "B"
    assert payload["invitation_id"] in {str(i["id"]) for i in invitations}
    assert not {"applicant", "full_name", "email", "national_id", "borrower_id"} & payload.keys()


async def test_a_dry_run_invites_nobody(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    await lender(client, principal, country)
    app = await open_application(client, principal, core_db, country)
    as_operator(principal)
    report = await call(client, MATCH, {"application": app["id"]})
    assert len(report["ranking"]) == 1 and not report["ranking"][0]["invited"]
    assert await invitations_and_events(core_db, app["id"]) == ([], [])


@pytest.mark.parametrize("status", ["submitted", "under_review", "withdrawn"])
async def test_only_an_open_application_is_matched(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str, status: str
) -> None:
    app = await open_application(client, principal, core_db, country, status=status)
    as_operator(principal)
    for tool in (MATCH, INVITE):
        assert await refused(client, tool, {"application": app["id"]}) == "conflict"
    assert await refused(client, MATCH, {"application": str(uuid.uuid4())}) == "not_found"


@pytest.mark.parametrize("role", [Role.BORROWER, Role.AGENT, Role.PROVIDER])
async def test_only_staff_match(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str, role: Role
) -> None:
    app = await open_application(client, principal, core_db, country)
    principal(uid("u"), role)
    for tool in (MATCH, INVITE):
        assert await refused(client, tool, {"application": app["id"]}) == "permission_denied"


async def test_the_retired_invite_flag_is_refused_naming_the_tool_that_invites(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    """Issue 11, item 4: matching is read-only; inviting is its own tool, and a caller still sending
    the old flag is told which tool to call instead of being ranked without an invitation."""
    await lender(client, principal, country)
    app = await open_application(client, principal, core_db, country)
    as_operator(principal)
    result = await client.call_tool(MATCH, {"application": app["id"], "invite": True}, raise_on_error=False)
    error = error_of(result)
    assert error is not None
    assert error["code"] == "invalid_argument" and INVITE in error["message"], error
    assert await invitations_and_events(core_db, app["id"]) == ([], [])


async def test_a_provider_lists_only_its_own_invitations(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    mine = await lender(client, principal, country)
    other = await lender(client, principal, country)
    app = await open_application(client, principal, core_db, country)
    as_operator(principal)
    await call(client, INVITE, {"application": app["id"]})

    principal(uid("lender-user"), Role.PROVIDER, mine)
    page = await call(client, INVITATIONS, {})
    assert {i["provider_id"] for i in page["items"]} == {mine}
    item = page["items"][0]
    assert item["reference"] == app["reference"] and item["requested_amount"] == {
        "amount": "250000.00",
        "currency": "MUR",
    }
    assert (item["grade"], item["score"], item["dti"], item["status"]) == ("B", 700, "0.3500", "invited")
    assert await refused(client, INVITATIONS, {"provider": other}) == "permission_denied"
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
