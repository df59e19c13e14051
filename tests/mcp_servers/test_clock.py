"""The runtime's clock reaches every service's use cases and the workers: moving it is time passing for
them, while rows the database stamped keep the database's time."""

from __future__ import annotations

from typing import Any

from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import expire_stale, open_application
from tests.helpers.clock import MovableClock
from tests.helpers.risk import GET


async def test_every_service_and_the_workers_read_the_runtimes_clock(
    runtime: Runtime, clock: MovableClock
) -> None:
    deps = runtime.deps
    services = (deps.credit, deps.risk, deps.marketplace, deps.loans, deps.ledger, deps.payments)
    assert all(service.clock is clock for service in (*services, deps.notifications))
    assert runtime.clock is clock and runtime.workers.clock is clock


async def test_an_application_open_for_bids_expires_once_the_clock_passes_its_window(
    client: Client, principal: Any, clock: MovableClock, country: str
) -> None:
    app = await open_application(client, principal, country)
    assert app["reference"] not in await expire_stale(client, principal)
    clock.move(hours=71, minutes=59)
    assert app["reference"] not in await expire_stale(client, principal)  # a minute to go
    clock.move(minutes=1, seconds=1)
    assert app["reference"] in await expire_stale(client, principal)
    assert (await client.call_tool(GET, {"application": app["id"]})).structured_content["status"] == "expired"
