"""A slow payment vendor cannot take a process's pool: a repayment's charge waits on the gateway inside
its transaction, so at most a bulkhead's worth of charges do at once, and the rest are refused as
unavailable, with nothing written, once they have waited their patience."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg
from fastmcp import Client

from adapters.payments.onasis_gateway import OnasisGateway
from mcp_servers.runtime import Runtime
from tests.helpers.loans import active_loan
from tests.helpers.payments import key, payment_deps, private_router
from tools.payments import payments
from tools.platform.errors import Unavailable
from tools.platform.locks import Bulkhead
from tools.platform.ports import Invocation
from tools.platform.principal import Principal, Role


async def test_charges_beyond_the_bulkhead_are_refused_while_a_vendor_stalls(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    assert runtime.sandbox is not None
    loan, _ = await active_loan(client, principal, runtime, core_db)
    # Every vendor of the route stalls each charge until this client gives up (0.5 s apiece).
    impatient = OnasisGateway(runtime.sandbox.gateway_url, timeout_seconds=0.5, simulated=True)
    deps = payment_deps(
        runtime,
        gateway=impatient,
        router=private_router(runtime, failures=50),
        charges=Bulkhead(2, patience=0.2),
    )
    borrower = Invocation(Principal(loan["borrower_id"], Role.BORROWER), "tests.collect", "0" * 64)

    async def collect(simulate: str | None) -> str:
        try:
            await payments.collect_repayment(
                deps, borrower, loan["id"], Decimal("500"), key(), simulate=simulate
            )
        except Unavailable as exc:
            return str(exc)
        return "charged"

    try:
        answers = await asyncio.gather(*(collect("timeout_after_success") for _ in range(4)))
        busy = [a for a in answers if "already waiting on the payment gateway" in a]
        stalled = [a for a in answers if "answered" in a and a not in busy]
        assert (len(busy), len(stalled)) == (2, 2), answers
        assert "nothing was charged" in busy[0]
        written = "SELECT count(*) FROM caas_core.payments WHERE loan_id = $1 AND kind = 'collection'"
        assert await core_db.fetchval(written, loan["id"]) == 0
        # The places came back: the next charge goes through.
        assert await collect(None) == "charged"
        assert await core_db.fetchval(written, loan["id"]) == 1
    finally:
        await impatient.aclose()


def test_a_process_lets_a_quarter_of_its_pool_wait_on_the_gateway(runtime: Runtime) -> None:
    assert runtime.core_pool is not None
    charges = runtime.deps.payments.charges
    assert charges.size == max(1, runtime.core_pool.get_max_size() // 4) == 4  # the tests' pool: 16
