"""A platform pointed at an external ``caas sandbox`` (ONASIS_GATEWAY_URL set) knows its money is
simulated (issue 10, item 14): the sandbox marks every answer with a header, and ``/health``, the gateway
and every payment's output say ``simulated: true``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client, FastMCP
from pydantic import HttpUrl, SecretStr

from adapters.sandbox import Sandbox
from mcp_servers.composition import build_server
from mcp_servers.config import Settings
from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.payments import disburse, pending_loan


@pytest.fixture(scope="module")
async def external() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
async def runtime(
    settings: Settings,
    external: Sandbox,
    tmp_path_factory: pytest.TempPathFactory,
    session_clock: MovableClock,
) -> AsyncIterator[Runtime]:
    configured = settings.model_copy(
        update={
            "onasis_gateway_url": HttpUrl(external.gateway_url),
            "paystack_secret_key": SecretStr(external.paystack_secret),
            "stripe_webhook_secret": SecretStr(external.stripe_secret),
            "data_dir": Path(tmp_path_factory.mktemp("external-sandbox")),
        }
    )
    rt = Runtime(configured, clock=session_clock)
    async with rt.session():
        yield rt


@pytest.fixture(scope="module")
def server(runtime: Runtime) -> FastMCP:
    return build_server(runtime)


async def test_health_says_simulated_when_the_gateway_url_is_an_external_sandbox(runtime: Runtime) -> None:
    assert runtime.sandbox is None  # not the in-process one
    assert runtime.gateway.simulated is True
    transport = httpx.ASGITransport(app=build_server(runtime).http_app(path="/mcp"))
    async with httpx.AsyncClient(transport=transport, base_url="http://caas.test") as http:
        body = (await http.get("/health")).json()
    assert body["simulated"] is True
    assert body["payments"] == {"gateway": "sandbox", "simulated": True}


async def test_a_payment_through_an_external_sandbox_is_marked_simulated(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await pending_loan(client, principal, runtime, core_db)
    payment = await disburse(client, loan)
    assert payment["simulated"] is True
    stored = await core_db.fetchval("SELECT simulated FROM caas_core.payments WHERE id = $1", payment["id"])
    assert stored is True
