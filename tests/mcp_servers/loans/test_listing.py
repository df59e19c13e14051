"""Providers reading the loans they made and their commission, and list_loans (keyset pages, filters,
who sees what), through MCP clients on real PostgreSQL. Loans are arranged as tests/helpers/loans.py
does: an approved application, its accepted bid in SQL, origination by an operator, disbursement
through the use case."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.errors import error_of
from tests.helpers.loans import (
    AGE,
    GET_LOAN,
    ORIGINATE,
    QUOTE,
    REPAY,
    REVENUE,
    SCHEDULE,
    STATEMENT,
    SUBMIT,
    accept_bid,
    active_loan,
    approved_application,
    booked_on,
    call,
    disburse,
    lender,
    money,
    paid_at,
    refused,
)
from tests.helpers.risk import body, uid
from tools.loans.domain.loans import first_due_date
from tools.platform.principal import Role

LIST = "credit_list_loans"
COMMISSION = "credit_calculate_commission"
RESOURCE = "caas://loans/{}/schedule"
PROVIDER_READS = {GET_LOAN, SCHEDULE, QUOTE, "credit_quote_prepayment", LIST, STATEMENT}


async def approve(db: asyncpg.Connection, app: dict[str, Any]) -> None:
    """As loans_support.approved_application does, for an application someone else filed."""
    await db.execute(
        """
        WITH moved AS (
            UPDATE caas_core.applications SET status = 'approved', status_changed_at = now()
            WHERE id = $1 RETURNING id
        )
        INSERT INTO caas_core.application_transitions
            (application_id, from_status, to_status, actor_id, actor_role, reason)
        SELECT id, 'submitted', 'approved', 'tests', 'operator', 'arranged for a loan test' FROM moved
        """,
        uuid.UUID(app["id"]),
    )


async def loan_from(
    client: Client,
    principal: Any,
    runtime: Runtime,
    db: asyncpg.Connection,
    provider: dict[str, Any],
    *,
    disbursed: bool = True,
    agent: str | None = None,
) -> dict[str, Any]:
    """One more loan of ``provider``: for a fresh borrower, filed by ``agent`` when given."""
    if agent is None:
        app = await approved_application(client, principal, db)
    else:
        principal(agent, Role.AGENT)
        app = await call(client, SUBMIT, {"application": body(borrower_id=uid("b"))})
        await approve(db, app)
    await accept_bid(runtime, db, app, provider)
    principal(uid("op-loans"), Role.OPERATOR)
    loan = dict(await call(client, ORIGINATE, {"application": app["id"]}))
    return await disburse(runtime, loan) if disbursed else loan


async def every_page(client: Client, args: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await call(client, LIST, {**args, **({"cursor": cursor} if cursor else {})})
        assert len(page["items"]) <= args.get("limit", 20)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


async def failure(client: Client, tool: str, args: dict[str, Any]) -> dict[str, str]:
    result = await client.call_tool(tool, args, raise_on_error=False)
    error = error_of(result)
    assert error is not None
    return dict(error)


def originated_to_fall_due(due: date) -> date | None:
    """The day a monthly loan is originated on for its first installment to fall due on ``due``; None
    when no day is (the 29th to the 31st after a shorter month)."""
    days = (due - timedelta(days=n) for n in range(28, 32))
    return next((day for day in days if first_due_date(day, "monthly") == due), None)


def as_provider(principal: Any, provider: dict[str, Any]) -> None:
    principal(uid("lender-user"), Role.PROVIDER, provider["id"])


async def test_a_provider_reads_its_own_loans_and_statement_and_nothing_of_another_providers(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    theirs, other = await active_loan(client, principal, runtime, core_db)
    principal(uid("op"), Role.OPERATOR)
    schedule = await call(client, SCHEDULE, {"loan": loan["id"]})

    as_provider(principal, provider)
    assert (await call(client, GET_LOAN, {"loan": loan["application_reference"]}))["id"] == loan["id"]
    assert await call(client, SCHEDULE, {"loan": loan["id"]}) == schedule
    resource = await client.read_resource(RESOURCE.format(loan["id"]))
    assert json.loads(resource[0].text) == schedule
    assert (await call(client, QUOTE, {"loan": loan["id"]}))["loan_id"] == loan["id"]
    listed = await call(client, LIST, {})
    assert (ids(listed["items"]), listed["next_cursor"]) == ([loan["id"]], None)
    assert ids((await call(client, LIST, {"provider": provider["id"]}))["items"]) == [loan["id"]]
    period = {"period_start": booked_on(loan).isoformat(), "period_end": booked_on(loan).isoformat()}
    statement = await call(client, STATEMENT, {"provider": provider["id"], **period})
    assert (statement["provider_id"], statement["at_disbursement"]) == (provider["id"], money(2_125_000))
    assert [line["loan_id"] for line in statement["lines"]] == [loan["id"]]

    for tool in (GET_LOAN, SCHEDULE, QUOTE):  # the other provider's loan reads as a missing one
        assert await refused(client, tool, {"loan": theirs["id"]}) == "not_found", tool
        assert await refused(client, tool, {"loan": theirs["application_reference"]}) == "not_found", tool
    with pytest.raises(Exception, match="not_found"):
        await client.read_resource(RESOURCE.format(theirs["id"]))
    assert await refused(client, LIST, {"provider": other["id"]}) == "permission_denied"
    missing = str(uuid.uuid4())
    foreign = await failure(client, STATEMENT, {"provider": other["id"], **period})
    absent = await failure(client, STATEMENT, {"provider": missing, **period})
    assert foreign["code"] == absent["code"] == "not_found"
    assert foreign["message"].replace(other["id"], "?") == absent["message"].replace(missing, "?")
    assert await refused(client, REVENUE, {"currency": "NGN", **period}) == "permission_denied"
    assert await refused(client, COMMISSION, {"provider": provider["id"], "amount": "1000"}) == (
        "permission_denied"
    )

    principal(uid("lender-user"), Role.PROVIDER, provider["id"].upper())  # one provider, any spelling
    assert ids((await call(client, LIST, {}))["items"]) == [loan["id"]]
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["id"] == loan["id"]
    principal(uid("lender-orphan"), Role.PROVIDER)  # a provider user bound to no provider
    assert await refused(client, LIST, {}) == "permission_denied"
    assert await refused(client, GET_LOAN, {"loan": loan["id"]}) == "not_found"


async def six_loans(
    client: Client,
    principal: Any,
    runtime: Runtime,
    db: asyncpg.Connection,
    provider: dict[str, Any],
    clock: MovableClock,
) -> list[dict[str, Any]]:
    """Six loans of ``provider``, oldest first: two pending disbursement, then "late", 40 days past due,
    then "paying", whose first installment is due today, then two more due today. The clock moves
    between "late" and "paying", so that "paying" falls due the day "late" is 40 days past due (a day a
    monthly loan can fall due on), and on to that day."""

    async def made_now(count: int, disbursed: bool = True) -> list[dict[str, Any]]:
        return [
            await loan_from(client, principal, runtime, db, provider, disbursed=disbursed)
            for _ in range(count)
        ]

    pending = await made_now(2, disbursed=False)
    while originated_to_fall_due(first_due_date(clock.today(), "monthly") + timedelta(days=40)) is None:
        clock.move(days=1)
    [late] = await made_now(1)
    due = date.fromisoformat(late["first_due_date"]) + timedelta(days=40)
    start = originated_to_fall_due(due)
    assert start is not None
    clock.move(days=(start - clock.today()).days)
    later = await made_now(3)
    clock.move(days=(due - clock.today()).days)
    assert (date.fromisoformat(later[0]["first_due_date"]), clock.today()) == (due, due)
    return [*pending, late, *later]


async def test_list_loans_pages_newest_first_without_duplicates_or_omissions_and_filters(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    provider = await lender(client, principal)
    made = await six_loans(client, principal, runtime, core_db, provider, clock)
    pending, active = made[:2], made[2:]
    late, paying = active[0], active[1]
    principal(uid("op-aging"), Role.OPERATOR)
    await call(client, AGE, {})
    principal(uid("svc"), Role.SERVICE)
    # The first installment (23,639.90), and 100,000.00 of principal ahead of schedule from the last,
    # by the borrower's choice (reduce_term): installment 2 is still the next due.
    payment = {
        "loan": paying["id"],
        "amount": "123639.90",
        "paid_at": paid_at(clock),
        "reference": uid("pay"),
        "prepay": "reduce_term",
    }
    await call(client, REPAY, payment)

    newest_first = [m["id"] for m in reversed(made)]
    as_provider(principal, provider)
    for limit in (1, 2, 4):
        assert ids(await every_page(client, {"limit": limit})) == newest_first, limit
    principal(uid("op"), Role.OPERATOR)
    mine = {"provider": provider["id"]}
    assert ids(await every_page(client, {**mine, "limit": 2})) == newest_first
    everyone = ids(await every_page(client, {"limit": 100}))
    assert len(everyone) == len(set(everyone)) and set(newest_first) <= set(everyone)

    def only(**args: Any) -> Any:
        return every_page(client, {**mine, **args})

    assert ids(await only(status=["pending_disbursement"])) == [m["id"] for m in reversed(pending)]
    assert set(ids(await only(status=["active", "delinquent"]))) == {m["id"] for m in active}
    assert ids(await only(status=["delinquent"])) == [late["id"]]
    assert ids(await only(status=["closed", "defaulted", "written_off"])) == []
    assert ids(await only(currency="NGN", limit=3)) == newest_first
    assert ids(await only(currency="KES")) == []
    assert ids(await only(min_days_past_due=30)) == [late["id"]]
    assert ids(await only(min_days_past_due=41)) == []

    for item in await only():  # every summary agrees with get_loan
        full = await call(client, GET_LOAN, {"loan": item["id"]})
        assert item["outstanding"] == full["outstanding"]["total"]
        assert item["next_due"] == full["next_due"]
        same = ("application_id", "application_reference", "provider_id", "status", "principal")
        assert {k: item[k] for k in same} == {k: full[k] for k in same}
        assert (item["days_past_due"], item["created_at"], item["disbursed_at"]) == (
            full["days_past_due"], full["created_at"], full["disbursed_at"],
        )  # fmt: skip
        assert item["provider_name"] == provider["name"]
    summaries = {i["id"]: i for i in await only()}
    assert summaries[late["id"]]["days_past_due"] == 40
    assert summaries[late["id"]]["next_due"]["number"] == 1
    assert summaries[paying["id"]]["next_due"]["number"] == 2  # the paid one is no longer due
    assert summaries[pending[0]["id"]]["disbursed_at"] is None
    assert summaries[pending[0]["id"]]["outstanding"] == pending[0]["outstanding"]["total"]

    for bad in (
        {"cursor": "not-a-cursor"},
        {"status": ["approved"]},
        {"currency": "ngn"},
        {"limit": 0},
        {"min_days_past_due": 0},
        {"provider": "acme"},
        {"borrower_id": "someone"},  # not a parameter: unknown fields are refused
    ):
        assert await refused(client, LIST, bad) == "invalid_argument", bad


async def test_borrowers_and_agents_list_only_their_own_loans(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    provider = await lender(client, principal)
    other_provider = await lender(client, principal)
    theirs = await loan_from(client, principal, runtime, core_db, provider)
    mine = await loan_from(client, principal, runtime, core_db, provider, disbursed=False)
    agent = uid("agent")
    filed = await loan_from(client, principal, runtime, core_db, other_provider, agent=agent)

    principal(mine["borrower_id"], Role.BORROWER)
    assert ids((await call(client, LIST, {}))["items"]) == [mine["id"]]
    assert ids((await call(client, LIST, {"provider": provider["id"]}))["items"]) == [mine["id"]]
    assert (await call(client, LIST, {"provider": other_provider["id"]}))["items"] == []
    assert await refused(client, GET_LOAN, {"loan": theirs["id"]}) == "not_found"
    principal(uid("b-none"), Role.BORROWER)
    assert await call(client, LIST, {}) == {"items": [], "next_cursor": None}

    principal(agent, Role.AGENT)
    assert ids((await call(client, LIST, {}))["items"]) == [filed["id"]]
    assert (await call(client, GET_LOAN, {"loan": filed["id"]}))["id"] == filed["id"]
    principal(filed["borrower_id"], Role.BORROWER)  # the borrower the agent filed for sees it too
    assert ids((await call(client, LIST, {}))["items"]) == [filed["id"]]
    principal(uid("agent-other"), Role.AGENT)
    assert (await call(client, LIST, {}))["items"] == []


async def test_each_role_is_shown_the_loan_reads_it_may_call(client: Client, principal: Any) -> None:
    async def shown(role: Role, provider_id: str | None = None) -> dict[str, Any]:
        principal(uid(role.value), role, provider_id)
        return {t.name: t for t in await client.list_tools() if t.name.startswith("credit_")}

    provider_tools = await shown(Role.PROVIDER, str(uuid.uuid4()))
    assert set(provider_tools) == PROVIDER_READS
    for role in (Role.BORROWER, Role.AGENT):
        names = set(await shown(role))
        assert PROVIDER_READS - {STATEMENT} <= names and STATEMENT not in names, role
    operator_tools = await shown(Role.OPERATOR)
    assert PROVIDER_READS | {COMMISSION, REVENUE} <= set(operator_tools)
    listing = operator_tools[LIST]
    hints = listing.annotations
    assert (hints.read_only_hint, hints.idempotent_hint, hints.destructive_hint) == (True, True, False)
    assert listing.input_schema.get("additionalProperties") is False
    assert listing.output_schema is not None and listing.description and "Use" in listing.description
