"""Incremental reconciliation through a real MCP client: a run checks every cached balance against the
last run's verified sums plus the journals posted since, so it finds a tampered balance and a journal
that does not balance posted after the checkpoint; only a full run sees a posting rewritten before it.

Tampering bypasses the ledger's triggers as a superuser can (session_replication_role = replica), and
is undone the same way before each test ends, so the shared test database reconciles again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
from fastmcp import Client

from database.locks import AdvisoryLock
from database.platform.metrics import _LEDGER, PgMetricsReader
from mcp_servers.runtime import Runtime
from tests.helpers.ledger import capital, deposit, new_provider, post, reserve
from tools.platform.principal import Role

RECONCILE = "admin_reconcile_ledger"


async def reconcile(client: Client, **args: Any) -> Any:
    return (await client.call_tool(RECONCILE, args)).structured_content


async def bypassing_triggers(db: asyncpg.Connection, *statements: tuple[Any, ...]) -> None:
    async with db.transaction():
        await db.execute("SET LOCAL session_replication_role = replica")
        for sql, *args in statements:
            await db.execute(sql, *args)


async def test_an_incremental_run_finds_a_tampered_balance_and_an_unbalanced_journal_posted_since(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    principal("op-1", Role.OPERATOR)
    provider = new_provider()
    await post(runtime, deposit(provider, 500_000))
    full = await reconcile(client, full=True)
    assert (full["mode"], full["since"], full["consistent"]) == ("full", None, True)

    await post(runtime, reserve(provider, 120_000))
    since = await reconcile(client)
    assert (since["mode"], since["since"], since["consistent"]) == ("incremental", full["checked_at"], True)
    assert since["postings_checked"] >= 2 and since["journals_checked"] >= 1
    assert since["accounts_checked"] == full["accounts_checked"] + 1  # capital_reserved opened

    reserved, available = capital(provider, "capital_reserved"), capital(provider, "capital_available")
    tamper = (
        "UPDATE caas_ledger.account_balances SET balance_minor = balance_minor + $2 WHERE account_id = $1"
    )
    await core_db.execute(tamper, reserved.id, 12_345)
    try:
        found = await reconcile(client)
    finally:
        await core_db.execute(tamper, reserved.id, -12_345)
    assert (found["mode"], found["consistent"], found["differences_total"]) == ("incremental", False, 1)
    [difference] = found["differences"]
    assert (difference["code"], difference["cached_minor"], difference["computed_minor"]) == (
        reserved.code, 132_345, 120_000,
    )  # fmt: skip

    # A journal of +700 / -600 (with balances to match, so only the journal is wrong) posted after the
    # last checkpoint, as nothing but a superuser bypassing the commit check could.
    odd = uuid4()
    insert = (
        ("INSERT INTO caas_ledger.journals (id, kind, source_id, memo, created_by) "
         "VALUES ($1, 'capital_deposit', $2, 'forged', 'test')", odd, f"forged-{odd}"),
        ("INSERT INTO caas_ledger.postings (journal_id, account_id, currency, amount_minor) "
         "VALUES ($1, $2, 'NGN', 700), ($1, $3, 'NGN', -600)", odd, available.id, reserved.id),
        (tamper, available.id, 700),
        (tamper, reserved.id, -600),
    )  # fmt: skip
    undo = (
        ("DELETE FROM caas_ledger.postings WHERE journal_id = $1", odd),
        ("DELETE FROM caas_ledger.journals WHERE id = $1", odd),
        (tamper, available.id, -700),
        (tamper, reserved.id, 600),
    )
    await bypassing_triggers(core_db, *insert)
    try:
        found = await reconcile(client)
        again = await reconcile(client)  # the checkpoint did not move past it
    finally:
        await bypassing_triggers(core_db, *undo)
    assert (found["mode"], found["consistent"], found["differences"]) == ("incremental", False, [])
    assert found["unbalanced_journals"] == again["unbalanced_journals"] == [str(odd)]
    assert (await reconcile(client))["consistent"] is True


async def test_only_a_full_run_finds_a_posting_rewritten_before_the_checkpoint(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    principal("admin-1", Role.ADMIN)
    provider = new_provider()
    [_, reservation] = await post(runtime, deposit(provider, 500_000), reserve(provider, 120_000))
    # Below every checkpoint whatever the horizon (a transaction open anywhere in the cluster holds it
    # back): a journal without a transaction id is one from before migration 0026.
    forget_xid = "UPDATE caas_ledger.journals SET xid = NULL WHERE id = $1"
    await bypassing_triggers(core_db, (forget_xid, reservation))
    assert (await reconcile(client, full=True))["consistent"] is True

    reserved = capital(provider, "capital_reserved")
    rewrite = (
        "UPDATE caas_ledger.postings SET amount_minor = amount_minor + $3 "
        "WHERE journal_id = $1 AND account_id = $2"
    )
    await bypassing_triggers(core_db, (rewrite, reservation, reserved.id, 1_000))
    try:
        incremental = await reconcile(client)
        full = await reconcile(client, full=True)
    finally:
        await bypassing_triggers(core_db, (rewrite, reservation, reserved.id, -1_000))
    # The incremental run trusts the checkpoint below which postings are append-only: it cannot see it.
    assert (incremental["mode"], incremental["consistent"]) == ("incremental", True)
    assert (full["mode"], full["since"], full["consistent"]) == ("full", None, False)
    [difference] = full["differences"]
    assert (difference["code"], difference["cached_minor"], difference["computed_minor"]) == (
        reserved.code, 120_000, 121_000,
    )  # fmt: skip
    assert full["unbalanced_journals"] == [str(reservation)]
    assert (await reconcile(client, full=True))["consistent"] is True


async def ledger_figure(
    runtime: Runtime, currency: str = "NGN", *, from_every_posting: bool = False
) -> Decimal:
    reader = PgMetricsReader(runtime.core_pool)
    if from_every_posting:
        facts = await reader._read(_LEDGER, 30)  # the statement used while no checkpoint exists
    else:
        facts = await reader.reconciliation(30)
    return sum((f.value for f in facts if f.metric == "reconcile_minor" and f.a == currency), Decimal(0))


async def test_the_metrics_ledger_figure_starts_from_the_checkpoint_and_sees_what_changed_since(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    # /metrics' caas_ledger_reconcile_difference read every posting once a minute (47 s at 10M postings);
    # with a checkpoint it reads the accounts and what was posted since, like an incremental run.
    principal("admin-1", Role.ADMIN)
    provider = new_provider()
    [_, reservation] = await post(runtime, deposit(provider, 500_000), reserve(provider, 120_000))
    await bypassing_triggers(
        core_db, ("UPDATE caas_ledger.journals SET xid = NULL WHERE id = $1", reservation)
    )
    assert (await reconcile(client, full=True))["consistent"] is True
    base, base_everything = (
        await ledger_figure(runtime),
        await ledger_figure(runtime, from_every_posting=True),
    )

    reserved = capital(provider, "capital_reserved")
    rewrite = (
        "UPDATE caas_ledger.postings SET amount_minor = amount_minor + $3 "
        "WHERE journal_id = $1 AND account_id = $2"
    )
    tamper = (
        "UPDATE caas_ledger.account_balances SET balance_minor = balance_minor + $2 WHERE account_id = $1"
    )
    await bypassing_triggers(core_db, (rewrite, reservation, reserved.id, 1_000))
    try:
        below_checkpoint = await ledger_figure(runtime)
        everything = await ledger_figure(runtime, from_every_posting=True)
        await core_db.execute(tamper, reserved.id, 12_345)
        try:
            tampered = await ledger_figure(runtime)
        finally:
            await core_db.execute(tamper, reserved.id, -12_345)
    finally:
        await bypassing_triggers(core_db, (rewrite, reservation, reserved.id, -1_000))
    # Below the checkpoint postings are append-only, so only a full audit reads them again.
    assert below_checkpoint == base
    assert everything == base_everything + 2_000  # the account's difference and the journal's imbalance
    assert tampered == base + 12_345


async def test_the_hourly_reconciliation_moves_the_checkpoint_and_yields_to_a_run_in_progress(
    runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    [job] = [p for p in runtime.workers.periodic if p.name == "reconcile_ledger"]
    runs = "SELECT count(*) FROM caas_ledger.reconciliations"
    before = await core_db.fetchval(runs)
    assert await job.run() is True
    assert await core_db.fetchval(runs) == before + 1
    async with core_db.transaction():  # another run holds the reconciliation's lock
        await core_db.execute("SELECT pg_advisory_xact_lock($1)", int(AdvisoryLock.LEDGER_RECONCILIATION))
        assert await job.run() is None
    assert await core_db.fetchval(runs) == before + 1
