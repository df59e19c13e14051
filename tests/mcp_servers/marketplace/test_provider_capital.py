"""The ledger holds the same provider capital as the provider row: deposits and withdrawals follow it."""

from __future__ import annotations

import uuid
from typing import Any

from fastmcp import Client

from tests.helpers.providers import ONBOARD, UPDATE, provider_body
from tools.ledger.domain.chart import account
from tools.platform.principal import Role

BALANCE = "admin_get_account_balance"


async def _balance(client: Client, code: str) -> int:
    return int((await client.call_tool(BALANCE, {"account": code})).structured_content["balance_minor"])


async def test_onboarding_deposits_and_capital_changes_post_deposits_and_withdrawals(
    client: Client, principal: Any
) -> None:
    principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    body = provider_body(capital_available="1000000.00")
    done = (await client.call_tool(ONBOARD, {"provider": body})).structured_content
    pid, currency = done["provider"]["id"], body["currency"]
    available = account("provider", "capital_available", currency, pid).code
    contributed = account("provider", "capital_contributed", currency, pid).code
    assert await _balance(client, available) == 100_000_000
    assert await _balance(client, contributed) == 100_000_000  # reported in its normal (credit) sign

    for capital, expected in (("1500000.00", 150_000_000), ("400000.00", 40_000_000)):
        await client.call_tool(UPDATE, {"provider": pid, "changes": {"capital_available": capital}})
        assert await _balance(client, available) == expected
        assert await _balance(client, contributed) == expected
