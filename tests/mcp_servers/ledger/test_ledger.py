"""Ledger tools on the admin service, through a real MCP client: balances in each account's normal
direction, statements, reconciliation that finds a corrupted balance, reversals, roles and bad input."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.common import error_code
from tests.helpers.ledger import capital, deposit, new_provider, post, reserve
from tools.platform.principal import Role

BALANCE = "admin_get_account_balance"
STATEMENT = "admin_list_account_postings"
JOURNAL = "admin_get_journal"
RECONCILE = "admin_reconcile_ledger"
REVERSE = "admin_reverse_journal"
REASON = "posted against the wrong offer"


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str | None:
    return error_code(await client.call_tool(tool, args, raise_on_error=False))


async def balance(client: Client, code: str, **args: Any) -> Any:
    return await call(client, BALANCE, {"account": code, **args})


async def ledger_counts(db: asyncpg.Connection) -> tuple[int, ...]:
    return tuple(
        await db.fetchrow(
            "SELECT (SELECT count(*) FROM caas_ledger.journals), (SELECT count(*) FROM caas_ledger.postings),"
            " (SELECT count(*) FROM caas_audit.audit_log),"
            " (SELECT sum(balance_minor) FROM caas_ledger.account_balances)"
        )
    )


async def test_balances_read_in_each_accounts_normal_direction(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    principal("op-1", Role.OPERATOR)
    provider = new_provider()
    [deposited] = await post(runtime, deposit(provider, 100_000_000))
    await post(runtime, reserve(provider, 25_000_000))

    available = await balance(client, capital(provider, "capital_available").code)
    assert available["balance"] == {"amount": "750000.00", "currency": "NGN"}
    assert (available["kind"], available["normal_balance"]) == ("asset", "debit")
    assert available["balance_minor"] == available["net_debit_minor"] == 75_000_000
    contributed = await balance(client, capital(provider, "capital_contributed").code)
    assert (contributed["kind"], contributed["normal_balance"]) == ("equity", "credit")
    assert contributed["balance"]["amount"] == "1000000.00"
    assert (contributed["balance_minor"], contributed["net_debit_minor"]) == (100_000_000, -100_000_000)
    assert (await balance(client, available["account_id"]))["code"] == available["code"]  # by id too

    # As of the deposit, nothing was reserved yet; before the account existed, nothing was in it.
    at = datetime.fromisoformat((await call(client, JOURNAL, {"journal": str(deposited)}))["created_at"])
    then = await balance(client, available["code"], as_of=at.isoformat())
    assert (then["balance"]["amount"], then["as_of"] is not None) == ("1000000.00", True)
    before = await balance(client, available["code"], as_of=(at - timedelta(seconds=1)).isoformat())
    assert before["balance_minor"] == 0


async def test_a_statement_pages_through_postings_newest_first(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    principal("admin-1", Role.ADMIN)
    provider = new_provider()
    await post(runtime, deposit(provider, 10_000))
    for amount in (100, 200, 300, 400):
        await post(runtime, reserve(provider, amount))
    code, seen, cursor = capital(provider, "capital_available").code, [], None
    for expected in (2, 2, 1):
        page = await call(
            client, STATEMENT, {"account": code, "limit": 2, **({"cursor": cursor} if cursor else {})}
        )
        assert len(page["items"]) == expected and page["account"]["balance"]["amount"] == "90.00"
        seen += page["items"]
        cursor = page["next_cursor"]
    assert cursor is None
    assert [(i["side"], i["amount"]["amount"], i["amount_minor"]) for i in seen] == [
        ("credit", "4.00", -400), ("credit", "3.00", -300), ("credit", "2.00", -200),
        ("credit", "1.00", -100), ("debit", "100.00", 10_000),
    ]  # fmt: skip
    assert [i["journal_kind"] for i in seen] == ["reservation"] * 4 + ["capital_deposit"]
    assert await refused(client, STATEMENT, {"account": code, "cursor": "not-a-cursor"}) == "invalid_argument"


async def test_reconcile_finds_exactly_the_corrupted_balance_and_its_difference(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    principal("op-1", Role.OPERATOR)
    provider = new_provider()
    await post(runtime, deposit(provider, 500_000), reserve(provider, 120_000))
    clean = await call(client, RECONCILE, {})
    assert clean["consistent"] is True and clean["differences"] == [] and clean["unbalanced_journals"] == []
    assert clean["accounts_checked"] >= 3 and clean["postings_checked"] >= 4

    reserved = capital(provider, "capital_reserved")
    await core_db.execute(
        "UPDATE caas_ledger.account_balances SET balance_minor = balance_minor + 12345 WHERE account_id = $1",
        reserved.id,
    )
    try:
        found = await call(client, RECONCILE, {})
    finally:
        await core_db.execute(
            "UPDATE caas_ledger.account_balances SET balance_minor = balance_minor - 12345 "
            "WHERE account_id = $1",
            reserved.id,
        )
    assert (found["consistent"], found["differences_total"]) == (False, 1)
    assert found["differences"] == [
        {
            "account_id": str(reserved.id),
            "code": reserved.code,
            "currency": "NGN",
            "cached_minor": 132_345,
            "computed_minor": 120_000,
            "difference_minor": 12_345,
            "difference": {"amount": "123.45", "currency": "NGN"},
        }
    ]
    assert (await call(client, RECONCILE, {}))["consistent"] is True


async def test_a_reversal_restores_every_balance_and_happens_once(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    principal("admin-1", Role.ADMIN)
    provider = new_provider()
    codes = [
        capital(provider, p).code for p in ("capital_available", "capital_reserved", "capital_contributed")
    ]
    await post(runtime, deposit(provider, 80_000), reserve(provider, 1_000))
    before = [(await balance(client, c))["net_debit_minor"] for c in codes]
    # A deposit recorded twice: the kind of journal an admin may reverse (a reservation is the offer's).
    [reservation] = await post(runtime, deposit(provider, 30_000))
    assert [(await balance(client, c))["net_debit_minor"] for c in codes] != before

    deposited = await call(client, JOURNAL, {"journal": str(reservation)})
    undo = await call(client, REVERSE, {"journal": str(reservation), "reason": REASON})
    assert (undo["kind"], undo["reverses_journal_id"], undo["source_id"]) == (
        "reversal",
        str(reservation),
        str(reservation),
    )
    assert sorted((line["account_code"], line["amount_minor"]) for line in undo["lines"]) == sorted(
        [(line["account_code"], -line["amount_minor"]) for line in deposited["lines"]]
    )
    assert REASON in undo["memo"] and undo["created_by"] == "admin-1"
    assert [(await balance(client, c))["net_debit_minor"] for c in codes] == before
    original = await call(client, JOURNAL, {"journal": str(reservation)})
    assert original["reversed_by_journal_id"] == undo["id"]
    audit = await core_db.fetchrow(
        "SELECT tool, principal_id, object_type FROM caas_audit.audit_log WHERE object_id = $1", undo["id"]
    )
    assert tuple(audit) == ("admin.reverse_journal", "admin-1", "journal")
    event = await core_db.fetchrow(
        "SELECT event_type, payload FROM caas_core.outbox WHERE aggregate_id = $1", undo["id"]
    )
    assert event["event_type"] == "ledger.journal_posted" and event["payload"]["kind"] == "reversal"

    counts = await ledger_counts(core_db)
    assert await refused(client, REVERSE, {"journal": str(reservation), "reason": REASON}) == "conflict"
    assert await ledger_counts(core_db) == counts


@pytest.mark.parametrize(
    "blank", [" " * 12, "\t\n" * 6, "\u3000" * 12, "\u00a0" * 12, " " * 5 + "a" + " " * 5]
)
async def test_a_reason_of_blank_text_is_refused_and_reverses_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, blank: str
) -> None:
    """Twelve spaces passed the schema's ten characters, and reversal_of's LedgerError on a journal that
    may be reversed was an internal error; the reason is what is left once its blanks are taken off."""
    principal("admin-1", Role.ADMIN)
    [deposited] = await post(runtime, deposit(new_provider(), 30_000))
    counts = await ledger_counts(core_db)
    assert await refused(client, REVERSE, {"journal": str(deposited), "reason": blank}) == "invalid_argument"
    assert await ledger_counts(core_db) == counts
    assert (await call(client, REVERSE, {"journal": str(deposited), "reason": f" {REASON} "}))[
        "kind"
    ] == "reversal"


async def test_roles_decide_who_reads_and_who_reverses(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    mine, theirs = new_provider(), new_provider()
    journal, _ = await post(runtime, deposit(mine, 1_000), deposit(theirs, 2_000))
    own, other = capital(mine, "capital_available").code, capital(theirs, "capital_available").code
    principal("op-1", Role.OPERATOR)
    other_id = (await balance(client, other))["account_id"]
    counts = await ledger_counts(core_db)

    principal("prov-user", Role.PROVIDER, provider_id=mine)
    assert (await balance(client, own))["balance"]["amount"] == "10.00"
    assert len((await call(client, STATEMENT, {"account": own}))["items"]) == 1
    assert await refused(client, BALANCE, {"account": other}) == "permission_denied"
    assert await refused(client, BALANCE, {"account": "platform:fee_income:NGN"}) == "permission_denied"
    assert await refused(client, BALANCE, {"account": other_id}) == "not_found"  # ids cannot be probed
    assert await refused(client, STATEMENT, {"account": other}) == "permission_denied"
    for tool, args in ((RECONCILE, {}), (JOURNAL, {"journal": str(journal)})):
        assert await refused(client, tool, args) == "permission_denied"
    principal("prov-orphan", Role.PROVIDER)  # a provider user not bound to a provider
    assert await refused(client, BALANCE, {"account": own}) == "permission_denied"

    principal("b-1", Role.BORROWER)
    assert await refused(client, BALANCE, {"account": own}) == "permission_denied"
    principal("svc", Role.SERVICE)
    assert await refused(client, RECONCILE, {}) == "permission_denied"
    principal("op-1", Role.OPERATOR)
    assert await refused(client, REVERSE, {"journal": str(journal), "reason": REASON}) == "permission_denied"
    assert await ledger_counts(core_db) == counts


async def test_provider_users_see_only_the_ledger_reads(client: Client, principal: Any) -> None:
    principal("prov-user", Role.PROVIDER, provider_id="p-1")
    names = {t.name for t in await client.list_tools()}
    assert {BALANCE, STATEMENT} <= names and not {JOURNAL, RECONCILE, REVERSE} & names
    principal("admin-1", Role.ADMIN)
    tools = {t.name: t for t in await client.list_tools() if t.name.startswith("admin_")}
    assert {BALANCE, STATEMENT, JOURNAL, RECONCILE, REVERSE} <= set(tools)
    reverse = tools[REVERSE].annotations
    assert (reverse.read_only_hint, reverse.destructive_hint, reverse.idempotent_hint) == (False, False, True)
    for name in (BALANCE, STATEMENT, JOURNAL, RECONCILE):
        assert tools[name].annotations.read_only_hint is True


BAD_INPUTS = {
    "not a code": (BALANCE, {"account": "nonsense"}, "invalid_argument"),
    "purpose off the chart": (BALANCE, {"account": "provider:p-1:capital_spent:NGN"}, "invalid_argument"),
    "not a currency": (BALANCE, {"account": "provider:p-1:capital_available:ngn"}, "invalid_argument"),
    "naive as_of": (
        BALANCE,
        {"account": "platform:fee_income:NGN", "as_of": "2026-01-01T00:00:00"},
        "invalid_argument",
    ),
    "never posted": (BALANCE, {"account": "provider:p-never-used:capital_available:NGN"}, "not_found"),
    "unknown id": (BALANCE, {"account": str(uuid.uuid4())}, "not_found"),
    "page too big": (STATEMENT, {"account": "platform:fee_income:NGN", "limit": 1000}, "invalid_argument"),
    "journal not a uuid": (JOURNAL, {"journal": "j-1"}, "invalid_argument"),
    "unknown journal": (JOURNAL, {"journal": str(uuid.uuid4())}, "not_found"),
    "reason too short": (REVERSE, {"journal": str(uuid.uuid4()), "reason": "oops"}, "invalid_argument"),
    "no reason": (REVERSE, {"journal": str(uuid.uuid4())}, "invalid_argument"),
    "reverse unknown": (REVERSE, {"journal": str(uuid.uuid4()), "reason": REASON}, "not_found"),
}


@pytest.mark.parametrize(("tool", "args", "code"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
async def test_bad_inputs_are_coded_errors_that_change_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection, tool: str, args: dict[str, Any], code: str
) -> None:
    principal("admin-1", Role.ADMIN)
    counts = await ledger_counts(core_db)
    assert await refused(client, tool, args) == code
    assert await ledger_counts(core_db) == counts
