"""A repayment's charge is opened at the gateway with no transaction open: no pooled connection waits on
a vendor, a duplicate in between is told to call again, a refused or unanswered charge is recorded
failed with its key freed, and one whose process stopped is failed by the worker's sweep."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import anyio
import asyncpg
import pytest
from fastmcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.payments.onasis_gateway import OnasisGateway
from database.payments.payments import STALLED_CHARGES
from database.pool import create_pool
from database.unit_of_work import pg_unit_of_work
from mcp_servers.platform.workers import worker_invocation
from mcp_servers.runtime import Runtime
from tests.helpers.common import serving
from tests.helpers.loans import active_loan
from tests.helpers.payments import key, payment_deps, private_router
from tools.payments import charges
from tools.payments.models import PaymentView
from tools.payments.ports import PaymentDeps
from tools.platform.errors import Conflict, Unavailable
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role

_COLLECTIONS = (
    "SELECT status, count(*) FROM caas_core.payments WHERE loan_id = $1 AND kind = 'collection' GROUP BY 1"
)


@dataclass
class HeldGateway:
    """A loopback Onasis gateway (payments/initialize as ../shared/contracts/onasis.md has it) that holds
    each charge until the test opens its gate, or refuses them while ``refuse`` is set."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0
    refuse: bool = False

    async def initialize(self, request: Request) -> JSONResponse:
        body = await request.json()
        if self.refuse:
            return JSONResponse({"success": False, "code": "charge_rejected", "message": "declined"}, 400)
        self.waiting += 1
        await self.gate.wait()
        code = uuid.uuid4().hex[:12]
        transaction = {"authorization_url": f"https://pay.test/{code}", "access_code": code}
        return JSONResponse({"success": True, "transaction": {**transaction, "reference": body["reference"]}})

    async def until_waiting(self, n: int) -> None:
        for _ in range(400):
            if self.waiting >= n:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.waiting} charges reached the gateway, not {n}")


@asynccontextmanager
async def held_gateway() -> AsyncIterator[tuple[HeldGateway, OnasisGateway]]:
    held = HeldGateway()
    app = Starlette(routes=[Route("/api/v1/payments/initialize", held.initialize, methods=["POST"])])
    async with serving(app) as url:
        gateway = OnasisGateway(url, timeout_seconds=30, simulated=True)
        try:
            yield held, gateway
        finally:
            held.gate.set()
            await gateway.aclose()


@dataclass
class Charging:
    """A loan being repaid, and its borrower's collections through a ``HeldGateway``."""

    loan: dict[str, Any]
    held: HeldGateway
    deps: PaymentDeps
    collect: Callable[..., Awaitable[PaymentView]]


@pytest.fixture
async def charging(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> AsyncIterator[Charging]:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    async with held_gateway() as (held, gateway):
        deps = payment_deps(runtime, gateway=gateway, router=private_router(runtime))
        yield Charging(loan, held, deps, collector(deps, loan["borrower_id"], loan["id"]))


def collector(deps: PaymentDeps, borrower: str, loan_id: str) -> Callable[..., Awaitable[PaymentView]]:
    who = Invocation(Principal(borrower, Role.BORROWER), "tests.collect", "0" * 64)

    def collect(once: str, amount: str = "500", simulate: str | None = None) -> Awaitable[PaymentView]:
        return charges.collect_repayment(deps, who, loan_id, Decimal(amount), once, simulate)

    return collect


async def events_of(db: asyncpg.Connection, payment_id: uuid.UUID) -> list[str]:
    rows = await db.fetch(
        "SELECT event_type FROM caas_core.outbox WHERE aggregate_id = $1 ORDER BY id", str(payment_id)
    )
    return [r["event_type"] for r in rows]


async def statuses(db: asyncpg.Connection, loan_id: str) -> dict[str, int]:
    return {r["status"]: r["count"] for r in await db.fetch(_COLLECTIONS, uuid.UUID(loan_id))}


async def test_no_pooled_connection_waits_on_the_gateway_while_charges_are_opened(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.targets is not None
    loan, _ = await active_loan(client, principal, runtime, core_db)
    # Six charges through a pool of two: were a connection held while the gateway answers, two would
    # reach it and four would wait for a connection.
    pool = await create_pool(runtime.targets.core, min_size=2, max_size=2, pooled=runtime.targets.pooled)
    async with held_gateway() as (held, gateway):
        deps = payment_deps(
            runtime, gateway=gateway, router=private_router(runtime), uow=pg_unit_of_work(pool)
        )
        collect = collector(deps, loan["borrower_id"], loan["id"])
        try:
            calls = [asyncio.create_task(collect(key())) for _ in range(6)]
            await held.until_waiting(6)
            assert pool.get_idle_size() == pool.get_size() == 2
            assert await statuses(core_db, loan["id"]) == {"requested": 6}
            held.gate.set()
            done = await asyncio.gather(*calls)
        finally:
            await pool.close()
    assert {(v.status.value, v.replayed) for v in done} == {("sent", False)}
    assert len({v.authorization_url for v in done}) == 6
    assert await statuses(core_db, loan["id"]) == {"sent": 6}
    audited = await core_db.fetch(
        "SELECT outcome FROM caas_audit.audit_log WHERE object_type = 'payment' AND object_id = $1",
        str(done[0].id),
    )
    assert [a["outcome"] for a in audited] == ["succeeded", "succeeded"]
    assert await events_of(core_db, done[0].id) == ["payment.requested", "payment.initialized"]


async def test_a_duplicate_while_the_charge_is_opened_is_told_to_call_again_then_replays_it(
    charging: Charging, core_db: asyncpg.Connection
) -> None:
    loan, held, collect = charging.loan, charging.held, charging.collect
    the_key = key()
    first = asyncio.create_task(collect(the_key))
    await held.until_waiting(1)
    with pytest.raises(Conflict, match="still being initialized at the gateway; call again"):
        await collect(the_key)
    with pytest.raises(Conflict, match="different arguments"):
        await collect(the_key, amount="501")
    held.gate.set()
    charge = await first
    again = await collect(the_key)
    assert held.waiting == 1  # the duplicate never reached the gateway
    assert (again.id, again.replayed, again.authorization_url) == (charge.id, True, charge.authorization_url)
    assert await statuses(core_db, loan["id"]) == {"sent": 1}


async def test_a_caller_that_hangs_up_during_the_charge_still_has_it_recorded(
    charging: Charging, core_db: asyncpg.Connection
) -> None:
    held, collect = charging.held, charging.collect
    the_key = key()

    async def hung_up() -> None:
        await collect(the_key)

    # As the MCP SDK cancels a request whose client sent notifications/cancelled or went away.
    async with anyio.create_task_group() as request:
        request.start_soon(hung_up)
        await held.until_waiting(1)
        request.cancel_scope.cancel()
        held.gate.set()
    replay = await collect(the_key)
    assert (replay.status.value, replay.replayed) == ("sent", True)
    assert replay.authorization_url is not None


async def test_a_refused_charge_is_recorded_failed_and_its_key_may_be_used_again(
    charging: Charging, core_db: asyncpg.Connection
) -> None:
    loan, held, collect = charging.loan, charging.held, charging.collect
    the_key = key()
    held.refuse = True
    with pytest.raises(Conflict, match=r"refused the charge .* nothing was charged"):
        await collect(the_key)
    assert await statuses(core_db, loan["id"]) == {"failed": 1}
    failed = await core_db.fetchrow(
        "SELECT id, last_error FROM caas_core.payments WHERE loan_id = $1", uuid.UUID(loan["id"])
    )
    assert "refused the charge" in failed["last_error"]
    held.refuse = False
    held.gate.set()
    charge = await collect(the_key)
    assert (charge.status.value, charge.replayed) == ("sent", False)
    assert charge.id != failed["id"]
    assert await statuses(core_db, loan["id"]) == {"failed": 1, "sent": 1}


async def test_a_charge_no_vendor_answers_is_failed_and_its_key_freed(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    loan, _ = await active_loan(client, principal, runtime, core_db)
    # Every vendor of the route takes the charge and never answers within this client's patience.
    impatient = OnasisGateway(runtime.sandbox.gateway_url, timeout_seconds=0.3, simulated=True)
    try:
        deps = payment_deps(runtime, gateway=impatient, router=private_router(runtime, failures=50))
        collect = collector(deps, loan["borrower_id"], loan["id"])
        the_key = key()
        with pytest.raises(Unavailable, match=r"no payment vendor for .* answered"):
            await collect(the_key, simulate="timeout_after_success")
        assert await statuses(core_db, loan["id"]) == {"failed": 1}
        with pytest.raises(Unavailable):  # the key was free: the same call ran again, not replayed
            await collect(the_key, simulate="timeout_after_success")
        assert await statuses(core_db, loan["id"]) == {"failed": 2}
    finally:
        await impatient.aclose()


async def test_a_charge_left_requested_by_a_stopped_process_is_failed_by_the_sweep_and_never_handed_out(
    charging: Charging, core_db: asyncpg.Connection
) -> None:
    loan, held, deps, collect = charging.loan, charging.held, charging.deps, charging.collect
    the_key = key()
    stalled = asyncio.create_task(collect(the_key))
    await held.until_waiting(1)
    sweep = worker_invocation("expire_stalled_charges")
    assert await charges.expire_stalled_charges(deps, sweep) == 0  # not old enough yet
    await core_db.execute(
        "UPDATE caas_core.payments SET created_at = now() - interval '6 minutes' WHERE loan_id = $1",
        uuid.UUID(loan["id"]),
    )
    assert await charges.expire_stalled_charges(deps, sweep) == 1
    held.gate.set()
    with pytest.raises(Unavailable, match="failed meanwhile; nothing can be paid under it"):
        await stalled
    replay = await collect(the_key)
    assert (replay.status.value, replay.replayed, replay.authorization_url) == ("failed", True, None)
    assert "was not initialized within" in (replay.last_error or "")
    # The late answer wrote nothing: no audit row or event of its own.
    assert await events_of(core_db, replay.id) == ["payment.requested", "payment.failed"]
    assert await statuses(core_db, loan["id"]) == {"failed": 1}


async def test_the_sweep_can_read_only_the_charges_being_opened(core_db: asyncpg.Connection) -> None:
    # A test database's few payments are read fastest whole; at scale the planner takes the index,
    # which must match the sweep's query (with no sequential scan allowed, it is used or none is).
    async with core_db.transaction():
        await core_db.execute("SET LOCAL enable_seqscan = off")
        plan = await core_db.fetch(f"EXPLAIN {STALLED_CHARGES}", timedelta(minutes=5), 100)
    assert "payments_charges_being_opened" in "\n".join(r[0] for r in plan)
