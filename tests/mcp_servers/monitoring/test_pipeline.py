"""Pipeline health through a real MCP client on real PostgreSQL: the counts and ages of applications
a test filed in a currency of its own, stuck ones appearing once the clock passes their state's limit,
and the tools open to staff only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.clock import MovableClock
from tests.helpers.risk import body, call, refused, uid
from tools.platform.principal import Role

PIPELINE = "monitoring_get_pipeline_health"
SUBMIT = "credit_submit_application"
WITHDRAW = "credit_withdraw_application"
# No other test files applications in kwacha, so every figure below is this test's own.
CURRENCY = "ZMW"


async def submitted(client: Client, principal: Any) -> dict[str, Any]:
    principal(uid("b"), Role.BORROWER)
    payload = body(currency=CURRENCY)
    payload["applicant"] = {**payload["applicant"], "country": "ZM"}
    return dict(await call(client, SUBMIT, {"application": payload}))


def by_status(health: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert {s["currency"] for s in health["states"]} <= {CURRENCY}
    return {s["status"]: s for s in health["states"]}


async def test_counts_ages_and_stuck_applications_follow_the_clock(
    client: Client, principal: Any, clock: MovableClock, core_db: asyncpg.Connection
) -> None:
    first, second, gone = [await submitted(client, principal) for _ in range(3)]
    principal(gone["borrower_id"], Role.BORROWER)
    await call(client, WITHDRAW, {"application": gone["id"], "reason": "found the money elsewhere"})

    principal(uid("op"), Role.OPERATOR)
    health = await call(client, PIPELINE, {"currency": CURRENCY})
    states = by_status(health)
    assert sorted((s, v["count"]) for s, v in states.items()) == [("submitted", 2), ("withdrawn", 1)]
    assert states["submitted"]["expected_s"] == 3600 and states["withdrawn"]["expected_s"] is None
    assert states["submitted"]["stuck"] == 0 and health["stuck"] == [] and health["stuck_total"] == 0
    assert health["expected_s"]["open_for_bids"] == 72 * 3600  # the bidding window

    clock.move(hours=2)
    health = await call(client, PIPELINE, {"currency": CURRENCY})
    states = by_status(health)
    assert states["submitted"]["stuck"] == 2 and health["stuck_total"] == 2
    assert sorted(s["reference"] for s in health["stuck"]) == sorted(
        [first["reference"], second["reference"]]
    )
    assert all(s["status"] == "submitted" and s["expected_s"] == 3600 for s in health["stuck"])
    # Ages are measured on the clock, from the moment each entered its state as stored.
    as_of = datetime.fromisoformat(health["as_of"])
    for stuck in health["stuck"]:
        since = datetime.fromisoformat(stuck["in_state_since"])
        assert since == await core_db.fetchval(
            "SELECT status_changed_at FROM caas_core.applications WHERE reference = $1", stuck["reference"]
        )
        assert stuck["age_s"] == int((as_of - since).total_seconds()) >= 7200
    ages = sorted(s["age_s"] for s in health["stuck"])
    assert states["submitted"]["oldest_age_s"] == ages[-1]
    assert ages[0] <= states["submitted"]["p50_age_s"] <= ages[-1]  # the median of two lies between
    # A withdrawn application has no limit and waits for nothing: never stuck, and not aged.
    assert states["withdrawn"]["stuck"] == 0
    assert states["withdrawn"]["oldest_age_s"] is None and states["withdrawn"]["p50_age_s"] is None

    limited = await call(client, PIPELINE, {"currency": CURRENCY, "stuck_limit": 1})
    assert len(limited["stuck"]) == 1 and limited["stuck_total"] == 2
    assert limited["stuck"][0]["age_s"] == max(s["age_s"] for s in health["stuck"])


async def test_every_currency_when_none_is_asked_and_a_bad_one_is_an_invalid_argument(
    client: Client, principal: Any
) -> None:
    await submitted(client, principal)
    principal(uid("b"), Role.BORROWER)
    await call(client, SUBMIT, {"application": body()})  # in naira
    principal(uid("admin"), Role.ADMIN)
    health = await call(client, PIPELINE, {})
    assert health["currency"] is None
    submitted_in = {s["currency"] for s in health["states"] if s["status"] == "submitted"}
    assert {CURRENCY, "NGN"} <= submitted_in
    assert await refused(client, PIPELINE, {"currency": "ZZZ"}) == "invalid_argument"
    assert await refused(client, PIPELINE, {"currency": "zmw"}) == "invalid_argument"
    assert await refused(client, PIPELINE, {"stuck_limit": 0}) == "invalid_argument"
    assert await refused(client, PIPELINE, {"currency": CURRENCY, "extra": 1}) == "invalid_argument"


async def test_the_dashboard_is_for_staff_only(client: Client, principal: Any) -> None:
    tools = [
        (PIPELINE, {}),
        ("monitoring_list_provider_benchmarks", {}),
        ("monitoring_get_revenue_by_month", {}),
        ("monitoring_get_system_performance", {}),
        ("monitoring_get_sync_status", {}),
    ]
    for role in (Role.BORROWER, Role.AGENT, Role.PROVIDER):
        principal(
            uid(role.value), role, "7f6c1d7e-9a52-4d0e-8f7a-0c3f5c2b9e11" if role is Role.PROVIDER else None
        )
        listed = {t.name for t in await client.list_tools()}
        for name, args in tools:
            assert name not in listed
            assert await refused(client, name, args) == "permission_denied", (role, name)
    for role in (Role.OPERATOR, Role.ADMIN, Role.SERVICE):
        principal(uid(role.value), role)
        for name, args in tools:
            assert (await client.call_tool(name, args)).structured_content is not None, (role, name)


async def test_the_counts_kept_by_the_trigger_equal_a_count_of_the_book(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    # The dashboard reads counts a trigger keeps (migration 0028), not the applications: after
    # submissions and a status change they must equal what counting every application gives. One
    # statement, so both sides are read in one snapshot while other tests file applications too.
    mine = []
    for _ in range(2):  # in kwacha of Malawi: ZMW's figures above are the other tests' own
        principal(uid("b"), Role.BORROWER)
        payload = body(currency="MWK")
        payload["applicant"] = {**payload["applicant"], "country": "MW"}
        mine.append(dict(await call(client, SUBMIT, {"application": payload})))
    principal(mine[0]["borrower_id"], Role.BORROWER)
    await call(client, WITHDRAW, {"application": mine[0]["id"], "reason": "no longer needed"})
    differences = await core_db.fetch(
        """
        WITH kept AS (
            SELECT status, currency, sum(n) AS n FROM caas_core.application_state_counts GROUP BY 1, 2
        ), counted AS (
            SELECT status, currency, count(*) AS n FROM caas_core.applications GROUP BY 1, 2
        )
        SELECT * FROM kept FULL JOIN counted USING (status, currency)
        WHERE kept.n IS DISTINCT FROM counted.n AND coalesce(kept.n, 0) + coalesce(counted.n, 0) <> 0
        """
    )
    assert [dict(r) for r in differences] == []
