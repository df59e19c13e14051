"""The ledger's guarantees live in the database: a journal balances per currency at COMMIT, whoever
writes it and however; journals, postings and accounts are append-only; a movement posts once; cached
balances equal the sum of postings, also under concurrent posting."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from database.ledger.ledger import PgLedgerWriter
from mcp_servers.runtime import Runtime
from tests.helpers.ledger import SERVICE_CALL, capital, deposit, new_provider, post, reserve
from tools.ledger.domain.chart import Account, AccountKind, OwnerType
from tools.ledger.domain.ledger import JournalDraft, JournalKind, credit, debit
from tools.ledger.ledger import JournalAlreadyPosted, journal_event, journal_event_fields

INSUFFICIENT_PRIVILEGE = "42501"
AS_ROLE = pytest.mark.parametrize("role", [None, "caas_app"], ids=["superuser", "caas_app"])


async def funded(runtime: Runtime, *currencies: str) -> str:
    """A new provider with capital in each currency, so its accounts exist."""
    provider = new_provider()
    await post(runtime, *(deposit(provider, 1_000_000, c) for c in currencies or ("NGN",)))
    return provider


async def insert_journal(db: asyncpg.Connection, lines: list[tuple[Account, int]], **journal: Any) -> UUID:
    """A journal and its postings by plain SQL, one statement per row, inside the caller's transaction."""
    journal_id: UUID = await db.fetchval(
        "INSERT INTO caas_ledger.journals (kind, source_id, memo, created_by) "
        "VALUES ($1, $2, 'raw sql', 'tests') RETURNING id",
        journal.get("kind", "fee"),
        journal.get("source", f"raw-{uuid.uuid4()}"),
    )
    for acct, amount in lines:
        await insert_journal_line(db, journal_id, acct, amount, journal.get("currency", acct.currency))
    return journal_id


async def insert_journal_line(
    db: asyncpg.Connection, journal_id: UUID, acct: Account, amount: int, currency: str | None = None
) -> None:
    await db.execute(
        "INSERT INTO caas_ledger.postings (journal_id, account_id, currency, amount_minor) "
        "VALUES ($1, $2, $3, $4)",
        journal_id,
        acct.id,
        currency or acct.currency,
        amount,
    )


async def balances(db: asyncpg.Connection, *accounts: Account) -> list[int | None]:
    return [
        await db.fetchval(
            "SELECT balance_minor FROM caas_ledger.account_balances WHERE account_id = $1", a.id
        )
        for a in accounts
    ]


async def journal_exists(db: asyncpg.Connection, journal_id: UUID) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM caas_ledger.journals WHERE id = $1", journal_id))


async def test_an_unbalanced_journal_is_refused_at_commit_even_from_raw_sql(runtime, core_db) -> None:
    provider = await funded(runtime)
    available, contributed = capital(provider, "capital_available"), capital(provider, "capital_contributed")
    before = await balances(core_db, available, contributed)
    tr = core_db.transaction()
    await tr.start()
    # Every statement succeeds: the check is deferred to COMMIT, and it is COMMIT that fails.
    journal_id = await insert_journal(core_db, [(available, 100), (contributed, -99)])
    with pytest.raises(
        asyncpg.CheckViolationError, match="does not balance: its NGN postings sum to 1 minor"
    ):
        await tr.commit()
    assert not await journal_exists(core_db, journal_id)
    assert await balances(core_db, available, contributed) == before


async def test_postings_may_arrive_in_any_order_before_commit(runtime, core_db) -> None:
    provider = await funded(runtime)
    available, contributed = capital(provider, "capital_available"), capital(provider, "capital_contributed")
    before = await balances(core_db, available, contributed)
    async with core_db.transaction():
        journal_id = await insert_journal(core_db, [(available, 250)])  # unbalanced for a moment
        await insert_journal_line(core_db, journal_id, contributed, -250)
    assert await journal_exists(core_db, journal_id)
    assert await balances(core_db, available, contributed) == [before[0] + 250, before[1] - 250]


@pytest.mark.parametrize("lines", [0, 1], ids=["no postings", "one posting"])
async def test_a_journal_needs_at_least_two_postings(runtime, core_db, lines: int) -> None:
    provider = await funded(runtime)
    available = capital(provider, "capital_available")
    with pytest.raises(asyncpg.CheckViolationError, match=f"has {lines} posting"):
        async with core_db.transaction():
            journal_id = await insert_journal(core_db, [(available, 100)][:lines])
    assert not await journal_exists(core_db, journal_id)


async def test_mixed_currencies_must_balance_in_each_currency(runtime, core_db) -> None:
    provider = await funded(runtime, "NGN", "USD")
    ngn = capital(provider, "capital_available", "NGN"), capital(provider, "capital_contributed", "NGN")
    usd = capital(provider, "capital_available", "USD"), capital(provider, "capital_contributed", "USD")
    async with core_db.transaction():
        await insert_journal(core_db, [(ngn[0], 100), (ngn[1], -100), (usd[0], 5), (usd[1], -5)])
    before = await balances(core_db, *ngn, *usd)
    # Zero in total, but 100 NGN is not 100 USD.
    with pytest.raises(asyncpg.CheckViolationError, match="NGN postings sum to 100"):
        async with core_db.transaction():
            await insert_journal(core_db, [(ngn[0], 100), (usd[1], -100)])
    assert await balances(core_db, *ngn, *usd) == before


async def test_a_posting_in_another_currency_than_its_account_is_refused(runtime, core_db) -> None:
    provider = await funded(runtime)
    available, contributed = capital(provider, "capital_available"), capital(provider, "capital_contributed")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with core_db.transaction():
            await insert_journal(core_db, [(available, 100), (contributed, -100)], currency="USD")


async def test_postings_cannot_be_added_to_an_earlier_journal_nor_backdated(runtime, core_db) -> None:
    provider = await funded(runtime)
    available, contributed = capital(provider, "capital_available"), capital(provider, "capital_contributed")
    [earlier] = await post(runtime, deposit(provider, 500))
    before = await balances(core_db, available, contributed)
    with pytest.raises(asyncpg.CheckViolationError, match="not opened by this transaction"):
        async with core_db.transaction():  # a balanced pair, but into a committed journal
            await insert_journal_line(core_db, earlier, available, 7)
            await insert_journal_line(core_db, earlier, contributed, -7)
    with pytest.raises(asyncpg.CheckViolationError, match="not opened by this transaction"):
        async with core_db.transaction():
            journal_id = await core_db.fetchval(
                "INSERT INTO caas_ledger.journals (kind, source_id, memo, created_by, created_at) "
                "VALUES ('fee', $1, 'backdated', 'tests', now() - interval '1 day') RETURNING id",
                f"backdated-{provider}",
            )
            await insert_journal_line(core_db, journal_id, available, 7)
            await insert_journal_line(core_db, journal_id, contributed, -7)
    assert await balances(core_db, available, contributed) == before


REWRITES = {
    "update journal": "UPDATE caas_ledger.journals SET memo = 'forged' WHERE id = $1",
    "delete journal": "DELETE FROM caas_ledger.journals WHERE id = $1",
    "update posting": "UPDATE caas_ledger.postings SET amount_minor = amount_minor * 2 WHERE journal_id = $1",
    "delete posting": "DELETE FROM caas_ledger.postings WHERE journal_id = $1",
    "update account": "UPDATE caas_ledger.accounts SET kind = 'expense' "
    "WHERE id IN (SELECT account_id FROM caas_ledger.postings WHERE journal_id = $1)",
    "delete account": "DELETE FROM caas_ledger.accounts "
    "WHERE id IN (SELECT account_id FROM caas_ledger.postings WHERE journal_id = $1)",
    "truncate journals": "TRUNCATE caas_ledger.journals CASCADE",
    "truncate postings": "TRUNCATE caas_ledger.postings",
    "truncate accounts": "TRUNCATE caas_ledger.accounts CASCADE",
}


@AS_ROLE
@pytest.mark.parametrize("sql", REWRITES.values(), ids=REWRITES.keys())
async def test_journals_postings_and_accounts_cannot_be_rewritten(runtime, core_db, role, sql) -> None:
    provider = await funded(runtime)
    [journal_id] = await post(runtime, reserve(provider, 300))
    snapshot = (
        "SELECT j.memo, p.account_id, p.amount_minor FROM caas_ledger.journals j "
        "JOIN caas_ledger.postings p ON p.journal_id = j.id WHERE j.id = $1 ORDER BY p.id"
    )
    before = await core_db.fetch(snapshot, journal_id)
    tr = core_db.transaction()
    await tr.start()
    try:
        if role is not None:
            await core_db.execute(f"SET LOCAL ROLE {role}")
        with pytest.raises(asyncpg.PostgresError) as refused:
            await core_db.execute(sql, *((journal_id,) if "$1" in sql else ()))
    finally:
        await tr.rollback()  # a regression that lets a rewrite through cannot damage the shared ledger
    assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE
    if role is None:
        assert "append-only" in str(refused.value)
    assert await core_db.fetch(snapshot, journal_id) == before


async def test_the_same_movement_cannot_post_twice(runtime, core_db) -> None:
    provider = await funded(runtime)
    available, reserved = capital(provider, "capital_available"), capital(provider, "capital_reserved")
    [first] = await post(runtime, reserve(provider, 400, source=f"offer-{provider}"))
    before = await balances(core_db, available, reserved)
    with pytest.raises(asyncpg.UniqueViolationError):
        async with core_db.transaction():
            await insert_journal(
                core_db, [(reserved, 1), (available, -1)], kind="reservation", source=f"offer-{provider}"
            )
    draft = reserve(provider, 1)
    async with runtime.deps.ledger.uow() as uow:
        with pytest.raises(JournalAlreadyPosted) as again:
            await uow.ledger.post(reserve(provider, 999, source=f"offer-{provider}"), SERVICE_CALL, {})
        assert again.value.journal_id == first and again.value.code == "conflict"
        # The refusal leaves the transaction usable: the caller may carry on (or treat it as a replay).
        second = await uow.ledger.post(draft, SERVICE_CALL, journal_event_fields(draft))
    assert await balances(core_db, available, reserved) == [before[0] - 1, before[1] + 1]
    # The posting's statement wrote its audit row and event; the refused one wrote neither.
    audited = (
        "SELECT object_id FROM caas_audit.audit_log WHERE object_type = 'journal' AND object_id = ANY($1)"
    )
    assert sorted(r[0] for r in await core_db.fetch(audited, [str(first), str(second)])) == sorted(
        [str(first), str(second)]
    )
    events = "SELECT aggregate_id, event_type, payload FROM caas_core.outbox WHERE aggregate_type = 'journal'"
    by_id = {
        r["aggregate_id"]: r
        for r in await core_db.fetch(events + " AND aggregate_id = ANY($1)", [str(first), str(second)])
    }
    assert set(by_id) == {str(first), str(second)}
    expected = journal_event(second, draft)
    assert by_id[str(second)]["event_type"] == expected.event_type
    assert by_id[str(second)]["payload"] == expected.payload


async def test_cached_balances_equal_the_sum_of_postings(runtime, core_db) -> None:
    provider = new_provider()
    await post(runtime, deposit(provider, 10_000), reserve(provider, 2_500), deposit(provider, 1))
    await post(runtime, reserve(provider, 500))
    rows = await core_db.fetch(
        """
        SELECT a.code, b.balance_minor, (SELECT sum(amount_minor) FROM caas_ledger.postings p
                                          WHERE p.account_id = a.id)::bigint AS computed
        FROM caas_ledger.accounts a JOIN caas_ledger.account_balances b ON b.account_id = a.id
        WHERE a.owner_id = $1 ORDER BY a.code
        """,
        provider,
    )
    assert {r["code"].split(":")[2]: (r["balance_minor"], r["computed"]) for r in rows} == {
        "capital_available": (7_001, 7_001),
        "capital_contributed": (-10_001, -10_001),
        "capital_reserved": (3_000, 3_000),
    }


async def test_concurrent_postings_to_one_account_keep_its_cached_balance_exact(runtime, core_db) -> None:
    provider = new_provider()  # no accounts yet: the first postings also race to open them
    available, reserved = capital(provider, "capital_available"), capital(provider, "capital_reserved")

    async def worker(n: int) -> None:
        for k in range(5):
            amount = n * 10 + k + 1
            # Half the journals lock the two accounts debit-first, half credit-first: no deadlock.
            draft = (
                reserve(provider, amount)
                if (n + k) % 2
                else JournalDraft(
                    JournalKind.RESERVATION_RELEASE,
                    f"release-{provider}-{n}-{k}",
                    "offer withdrawn",
                    (debit(available, amount), credit(reserved, amount)),
                )
            )
            await post(runtime, draft)

    await asyncio.gather(*(worker(n) for n in range(20)))
    expected = sum((n * 10 + k + 1) * (1 if (n + k) % 2 else -1) for n in range(20) for k in range(5))
    assert await balances(core_db, reserved, available) == [expected, -expected]
    computed = await core_db.fetchval(
        "SELECT sum(amount_minor)::bigint FROM caas_ledger.postings WHERE account_id = $1", reserved.id
    )
    assert computed == expected
    assert (
        await core_db.fetchval("SELECT count(*) FROM caas_ledger.postings WHERE account_id = $1", reserved.id)
        == 100
    )


async def test_the_application_role_posts_but_never_writes_a_balance(runtime, core_db) -> None:
    provider = await funded(runtime)
    available, contributed = capital(provider, "capital_available"), capital(provider, "capital_contributed")
    before = await balances(core_db, available, contributed)
    async with core_db.transaction():
        await core_db.execute("SET LOCAL ROLE caas_app")
        await PgLedgerWriter(core_db).post(deposit(provider, 42), SERVICE_CALL, {})
    assert await balances(core_db, available, contributed) == [before[0] + 42, before[1] - 42]
    for sql in (
        "UPDATE caas_ledger.account_balances SET balance_minor = 0 WHERE account_id = $1",
        "DELETE FROM caas_ledger.account_balances WHERE account_id = $1",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with core_db.transaction():
                await core_db.execute("SET LOCAL ROLE caas_app")
                await core_db.execute(sql, available.id)


@pytest.mark.parametrize(
    ("table", "column", "values"),
    [
        ("journals", "kind", {k.value for k in JournalKind}),
        ("accounts", "kind", {k.value for k in AccountKind}),
        ("accounts", "owner_type", {o.value for o in OwnerType}),
    ],
)
async def test_the_database_allows_exactly_the_domains_kinds(core_db, table, column, values) -> None:
    definitions = await core_db.fetch(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = $1::regclass AND contype = 'c'",
        f"caas_ledger.{table}",
    )
    [check] = [d["def"] for d in definitions if f"({column} = ANY" in d["def"]]
    assert set(re.findall(r"'([a-z_]+)'::text", check)) == values
