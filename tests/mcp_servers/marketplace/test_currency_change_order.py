"""A capital journal and a currency change are ordered by the provider row's lock (its version), not by
when their transactions began (a probe's find: a change that began before a deposit but locked the
provider after it let that deposit, withdrawn by another change, be reversed a second time)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from database.marketplace.providers import PgProviderWriter
from mcp_servers.runtime import Runtime
from tests.helpers.common import error_code
from tests.helpers.providers import ONBOARD, provider_body
from tools.marketplace.models.providers import ProviderChanges
from tools.marketplace.providers import update_provider
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role

REVERSE = "admin_reverse_journal"
MIGRATIONS = Path(__file__).parents[3] / "database" / "migrations" / "core"
_HELD: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar("_held", default=None)
TO_NGN = {"currency": "NGN", "min_amount": "50000.00", "max_amount": "5000000.00"}
TO_MUR = {"currency": "MUR", "min_amount": "5000.00", "max_amount": "900000.00"}


@pytest.fixture
def slow_lock(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """A change whose task holds an event waits, after BEGIN, before it locks the provider."""
    original, reached = PgProviderWriter.lock, asyncio.Event()

    async def lock(self: PgProviderWriter, provider_id: Any) -> Any:
        if (release := _HELD.get()) is not None:
            reached.set()
            await release.wait()
        return await original(self, provider_id)

    monkeypatch.setattr(PgProviderWriter, "lock", lock)
    return reached


def change(runtime: Runtime, pid: str, changes: dict[str, str]) -> Callable[[], Awaitable[Any]]:
    call = Invocation(Principal("op-order", Role.OPERATOR), "tests.currency_order", "0" * 64)
    body = ProviderChanges.model_validate(changes)
    return lambda: update_provider(runtime.deps.marketplace, call, pid, body, None)


async def held(release: asyncio.Event, run: Callable[[], Awaitable[Any]]) -> Any:
    _HELD.set(release)
    return await run()


async def reverse(client: Client, principal: Any, db: asyncpg.Connection, source: str) -> Any:
    journal = await db.fetchval(
        "SELECT id FROM caas_ledger.journals WHERE kind IN ('capital_deposit', 'capital_withdrawal') "
        "AND source_id = $1",
        source,
    )
    assert journal is not None, source
    principal("admin-1", Role.ADMIN)
    return await client.call_tool(
        REVERSE, {"journal": str(journal), "reason": "recorded in error"}, raise_on_error=False
    )


async def onboarded(client: Client, principal: Any) -> str:
    """A lender in NGN with 1,000,000.00 of capital, onboarded by an operator (version 1)."""
    principal("op-1", Role.OPERATOR)
    body = provider_body(capital_available="1000000.00")
    return str((await client.call_tool(ONBOARD, {"provider": body})).structured_content["provider"]["id"])


async def test_a_deposit_withdrawn_by_a_later_change_is_not_reversed_again(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, slow_lock: asyncio.Event
) -> None:
    pid = await onboarded(client, principal)
    release = asyncio.Event()
    back = asyncio.ensure_future(
        held(release, change(runtime, pid, {**TO_NGN, "capital_available": "3000000.00"}))
    )
    await slow_lock.wait()  # the change back to NGN began first
    await change(runtime, pid, {"capital_available": "2000000.00"})()  # v2: a deposit of 1,000,000
    await change(runtime, pid, {**TO_MUR, "capital_available": "300000.00"})()  # v3: NGN withdrawn
    release.set()
    await back  # v4: back to NGN with 3,000,000
    refused = await reverse(client, principal, core_db, f"{pid}:v2:NGN")
    assert error_code(refused) == "conflict"
    available = await core_db.fetchval(
        "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", pid
    )
    assert available == 300_000_000


async def test_a_deposit_made_after_a_change_it_waited_for_is_reversed(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, slow_lock: asyncio.Event
) -> None:
    pid = await onboarded(client, principal)
    release = asyncio.Event()
    deposit = asyncio.ensure_future(held(release, change(runtime, pid, {"capital_available": "400000.00"})))
    await slow_lock.wait()  # the capital change began first
    await change(runtime, pid, {**TO_MUR, "capital_available": "300000.00"})()  # v2: now MUR
    release.set()
    await deposit  # v3: 100,000 more MUR
    done = await reverse(client, principal, core_db, f"{pid}:v3:MUR")
    assert error_code(done) is None, done.content
    available = await core_db.fetchval(
        "SELECT capital_available_minor FROM caas_core.providers WHERE id = $1", pid
    )
    assert available == 30_000_000


async def test_migration_0041_finds_the_version_each_provider_took_its_currency_at(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    stayed, moved = await onboarded(client, principal), await onboarded(client, principal)
    await change(runtime, stayed, {"capital_available": "2000000.00"})()  # v2, still NGN
    await change(runtime, moved, {**TO_MUR, "capital_available": "300000.00"})()  # v2: MUR
    await change(runtime, moved, {"capital_available": "400000.00"})()  # v3
    sql = (MIGRATIONS / "0041_providers_currency_version.sql").read_text()
    tx = core_db.transaction()  # the rows as they were before the column; rolled back after
    await tx.start()
    try:
        await core_db.execute("ALTER TABLE caas_core.providers DROP COLUMN currency_version")
        await core_db.execute(sql)
        found = await core_db.fetch(
            "SELECT id::text, currency_version FROM caas_core.providers WHERE id = ANY($1::uuid[])",
            [stayed, moved],
        )
    finally:
        await tx.rollback()
    assert dict(found) == {stayed: 1, moved: 2}
