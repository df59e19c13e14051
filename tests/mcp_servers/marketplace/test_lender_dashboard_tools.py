"""What the provider dashboard reads and does beside bidding, through a real MCP client on real
PostgreSQL: a lender's capital (available, reserved, lent) as the ledger books it, read by itself and
staff only; a lender queueing its own failed webhook delivery again, never another lender's; and the
bidding deadline each invitation shows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import CLOSE, INVITATIONS, as_provider, market
from tests.helpers.loans import active_loan, minor
from tests.helpers.providers import call, refused, uid
from tests.helpers.webhooks import RETRY, Hooks
from tools.ledger.domain.chart import account
from tools.platform.principal import Role

CAPITAL = "admin_get_provider_capital"
BALANCE = "admin_get_account_balance"


async def _balance(client: Client, provider_id: str, purpose: str, currency: str) -> int:
    code = account("provider", purpose, currency, provider_id).code
    return int((await call(client, BALANCE, {"account": code}))["balance_minor"])


async def test_a_lender_reads_its_capital_available_reserved_and_lent_from_the_ledger(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    pid, cur = provider["id"], provider["currency"]
    principal(uid("lender-user"), Role.PROVIDER, pid)
    seen = await call(client, CAPITAL, {})  # its own
    assert seen == await call(client, CAPITAL, {"provider": pid}) | {"as_of": seen["as_of"]}
    available = await _balance(client, pid, "capital_available", cur)
    # The disbursed loan moved its reservation to the loan: nothing held, the principal lent.
    assert minor(seen["available"]) == available > 0
    assert minor(seen["reserved"]) == 0 == await _balance(client, pid, "capital_reserved", cur)
    assert minor(seen["lent"]) == minor(loan["principal"]) == 25_000_000
    assert minor(seen["total"]) == available + 25_000_000
    assert seen["loans_outstanding"] == 1 and seen["currency"] == cur == seen["lent"]["currency"]

    other, _ = await active_loan(client, principal, runtime, core_db)
    principal(uid("lender-user"), Role.PROVIDER, pid)
    assert await refused(client, CAPITAL, {"provider": other["provider_id"]}) == "not_found"
    principal(uid("op"), Role.OPERATOR)
    assert minor((await call(client, CAPITAL, {"provider": pid}))["lent"]) == 25_000_000
    assert await refused(client, CAPITAL, {}) == "invalid_argument"  # staff name the provider
    principal(uid("b"), Role.BORROWER)
    assert await refused(client, CAPITAL, {"provider": pid}) == "permission_denied"


@pytest.mark.slow
async def test_a_lender_retries_its_own_failed_delivery_but_never_another_lenders(hooks: Hooks) -> None:
    mine, _, my_name = await hooks.lender()
    theirs, _, their_name = await hooks.lender()
    hooks.receiver.answer(my_name, 410)
    hooks.receiver.answer(their_name, 410)
    await hooks.invite()
    [my_event] = await hooks.invited_events(mine)
    [their_event] = await hooks.invited_events(theirs)
    await hooks.runtime.workers.drain()
    assert len(await hooks.deliveries(provider=theirs, status=["failed"])) == 1

    hooks.principal(uid("lender-user"), Role.PROVIDER, mine)
    assert await refused(hooks.client, RETRY, {"delivery": str(their_event)}) == "not_found"
    [still] = await hooks.deliveries(provider=theirs)
    assert (still["status"], still["requeue_count"]) == ("failed", 0)  # untouched

    hooks.principal(uid("lender-user"), Role.PROVIDER, mine)
    queued = await call(hooks.client, RETRY, {"delivery": str(my_event)})
    assert (queued["status"], queued["requeue_count"]) == ("pending", 1)
    await hooks.runtime.workers.drain()
    [row] = await hooks.deliveries(provider=mine)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    hooks.principal(uid("b"), Role.BORROWER)
    assert await refused(hooks.client, RETRY, {"delivery": str(uuid.uuid4())}) == "permission_denied"


async def test_an_invitation_says_when_bidding_closes_and_an_early_close_moves_it(
    client: Client, principal: Any, runtime: Runtime, country: str
) -> None:
    app, (a,) = await market(client, principal, country, lenders=1)
    as_provider(principal, a)
    [before] = (await call(client, INVITATIONS, {"application": app["id"]}))["items"]
    closes = datetime.fromisoformat(before["bidding_closes_at"])
    expected = datetime.now(UTC) + runtime.deps.marketplace.bidding_window
    assert abs(closes - expected) < timedelta(minutes=5)
    principal(uid("op-close"), Role.OPERATOR)
    closed = await call(client, CLOSE, {"application": app["id"], "reason": "enough offers"})
    as_provider(principal, a)
    [after] = (await call(client, INVITATIONS, {"application": app["id"]}))["items"]
    assert after["bidding_closes_at"] == closed["closes_at"]
    assert datetime.fromisoformat(closed["closes_at"]) < closes
