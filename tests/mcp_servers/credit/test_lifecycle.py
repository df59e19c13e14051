"""Drafts, updates, submission of drafts, withdrawal, the timeline and expiry through MCP tools."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastmcp import Client

from tests.helpers.common import application, error_code
from tests.helpers.errors import error_message
from tools.platform.principal import Role

DRAFT = "credit_draft_application"
UPDATE = "credit_update_application"
SUBMIT = "credit_submit_application"
WITHDRAW = "credit_withdraw_application"
TIMELINE = "credit_get_application_timeline"
GET = "credit_get_application"
EXPIRE = "credit_expire_stale_applications"


def me(principal: Any) -> str:
    subject = f"b-{uuid.uuid4().hex[:10]}"
    principal(subject, Role.BORROWER)
    return subject


def draft_body() -> dict[str, Any]:
    full = application()
    return {"applicant": full["applicant"], "currency": "NGN", "amount": "120000.00"}


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def test_a_draft_is_completed_submitted_and_the_timeline_tells_the_story(
    client: Client, principal: Any
) -> None:
    who = me(principal)
    draft = await call(client, DRAFT, {"application": draft_body()})
    assert draft["status"] == "draft" and draft["submitted_at"] is None
    assert draft["requested_amount"] == {"amount": "120000.00", "currency": "NGN"}
    incomplete = await client.call_tool(SUBMIT, {"draft": draft["id"]}, raise_on_error=False)
    assert error_code(incomplete) == "invalid_argument"
    assert "term_months" in error_message(incomplete)
    assert (await call(client, GET, {"application": draft["id"]}))["status"] == "draft"

    rest = {k: application()[k] for k in ("term_months", "purpose", "monthly_income", "monthly_obligations")}
    updated = await call(
        client,
        UPDATE,
        {"application": draft["reference"], "changes": {**rest, "employment": application()["employment"]}},
    )
    assert updated["version"] == draft["version"] + 1
    assert updated["requested_amount"]["amount"] == "120000.00"  # untouched fields keep their value
    submitted = await call(client, SUBMIT, {"draft": draft["reference"]})
    assert submitted["status"] == "submitted" and submitted["submitted_at"] is not None

    timeline = await call(client, TIMELINE, {"application": draft["id"]})
    moves = [(e["from_status"], e["to_status"], e["actor_id"]) for e in timeline["entries"]]
    assert moves == [(None, "draft", who), ("draft", "submitted", who)]


async def test_only_a_draft_can_be_changed(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    me(principal)
    app = await call(client, SUBMIT, {"application": application()})
    result = await client.call_tool(
        UPDATE, {"application": app["id"], "changes": {"term_months": 6}}, raise_on_error=False
    )
    assert error_code(result) == "conflict"
    assert (
        await core_db.fetchval(
            "SELECT term_months FROM caas_core.applications WHERE id = $1", uuid.UUID(app["id"])
        )
        == 12
    )


async def test_bad_draft_changes_are_refused_and_change_nothing(
    client: Client, principal: Any, core_db
) -> None:
    me(principal)
    draft = await call(client, DRAFT, {"application": draft_body()})
    for changes in (
        {"amount": "-1"},
        {"amount": "10.001"},
        {"colour": "red"},
        {"currency": "JPY", "amount": "5.5"},
        {"term_months": 0},
    ):
        result = await client.call_tool(
            UPDATE, {"application": draft["id"], "changes": changes}, raise_on_error=False
        )
        assert error_code(result) == "invalid_argument", changes
    version = await core_db.fetchval(
        "SELECT version FROM caas_core.applications WHERE id = $1", uuid.UUID(draft["id"])
    )
    assert version == draft["version"]


async def test_submitting_both_or_neither_is_invalid(client: Client, principal: Any) -> None:
    me(principal)
    draft = await call(client, DRAFT, {"application": draft_body()})
    for args in ({}, {"application": application(), "draft": draft["id"]}):
        assert error_code(await client.call_tool(SUBMIT, args, raise_on_error=False)) == "invalid_argument"


async def test_withdrawn_is_final_and_the_conflict_names_the_state(client: Client, principal: Any) -> None:
    me(principal)
    app = await call(client, SUBMIT, {"application": application()})
    done = await call(client, WITHDRAW, {"application": app["id"], "reason": "found cheaper credit"})
    assert done["status"] == "withdrawn"
    again = await client.call_tool(WITHDRAW, {"application": app["id"]}, raise_on_error=False)
    assert error_code(again) == "conflict"
    assert "withdrawn" in error_message(again)
    resubmit = await client.call_tool(SUBMIT, {"draft": app["id"]}, raise_on_error=False)
    assert error_code(resubmit) == "conflict"


async def test_someone_elses_application_cannot_be_withdrawn_or_changed(
    client: Client, principal: Any
) -> None:
    me(principal)
    draft = await call(client, DRAFT, {"application": draft_body()})
    me(principal)
    for tool, args in (
        (WITHDRAW, {"application": draft["id"]}),
        (UPDATE, {"application": draft["id"], "changes": {}}),
    ):
        assert error_code(await client.call_tool(tool, args, raise_on_error=False)) == "not_found"


async def test_concurrent_withdrawals_have_exactly_one_winner(server, principal: Any) -> None:
    me(principal)
    async with Client(server) as c:
        app = await call(c, SUBMIT, {"application": application()})
        results = await asyncio.gather(
            *(c.call_tool(WITHDRAW, {"application": app["id"]}, raise_on_error=False) for _ in range(10))
        )
        timeline = await call(c, TIMELINE, {"application": app["id"]})
    assert sorted(error_code(r) or "ok" for r in results) == ["conflict"] * 9 + ["ok"]
    assert [e["to_status"] for e in timeline["entries"]].count("withdrawn") == 1


async def _open_for_bids(core_db: asyncpg.Connection, app_id: str, hours_ago: float) -> None:
    # Arrange only: scoring opens applications for bids; here the clock is what is under test.
    await core_db.execute(
        "UPDATE caas_core.applications SET status = 'open_for_bids', status_changed_at = $2 WHERE id = $1",
        uuid.UUID(app_id),
        datetime.now(UTC) - timedelta(hours=hours_ago),
    )


async def test_expiry_expires_stale_open_applications_once_even_when_run_concurrently(
    server, principal: Any, core_db: asyncpg.Connection
) -> None:
    me(principal)
    async with Client(server) as c:
        stale = [await call(c, SUBMIT, {"application": application()}) for _ in range(3)]
        fresh = await call(c, SUBMIT, {"application": application()})
        for app in stale:
            await _open_for_bids(core_db, app["id"], hours_ago=100)
        await _open_for_bids(core_db, fresh["id"], hours_ago=1)
        principal("scheduler", Role.SERVICE)
        runs = await asyncio.gather(*(call(c, EXPIRE, {}) for _ in range(4)))
        again = await call(c, EXPIRE, {})
        expired = [ref for run in runs for ref in run["expired"]]
        assert sorted(expired) == sorted(a["reference"] for a in stale)
        assert again["expired"] == [] or not set(again["expired"]) & set(expired)
        assert (await call(c, GET, {"application": fresh["id"]}))["status"] == "open_for_bids"
        timeline = await call(c, TIMELINE, {"application": stale[0]["id"]})
        assert timeline["entries"][-1]["to_status"] == "expired"
        assert "72 hours" in timeline["entries"][-1]["reason"]


async def test_borrowers_cannot_run_expiry(client: Client, principal: Any) -> None:
    me(principal)
    assert error_code(await client.call_tool(EXPIRE, {}, raise_on_error=False)) == "permission_denied"


async def test_withdrawal_works_from_every_state_before_the_loan_and_not_after_an_end(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    me(principal)
    draft = await call(client, DRAFT, {"application": draft_body()})
    done = await call(client, WITHDRAW, {"application": draft["id"]})
    assert done["status"] == "withdrawn"
    # An accepted offer's capital going back is tests/mcp_servers/marketplace/test_accepted_offer_ends.py.
    states = (("under_review", True), ("open_for_bids", True), ("offer_accepted", True), ("declined", False))
    for state, allowed in states:
        app = await call(client, SUBMIT, {"application": application()})
        # Arrange only: scoring and the marketplace own these moves; withdrawal is what is under test.
        await core_db.execute(
            "UPDATE caas_core.applications SET status = $2 WHERE id = $1", uuid.UUID(app["id"]), state
        )
        result = await client.call_tool(WITHDRAW, {"application": app["id"]}, raise_on_error=False)
        if allowed:
            assert result.structured_content["status"] == "withdrawn", state
            last = (await call(client, TIMELINE, {"application": app["id"]}))["entries"][-1]
            assert (last["from_status"], last["to_status"]) == (state, "withdrawn")
        else:
            assert error_code(result) == "conflict"
            message = error_message(result)
            assert "declined" in message and "it is final" in message  # says why
