"""platform_health through the MCP client: what /ready knows plus queue lag, failed jobs, open breakers
and the registry, read-only, for operators, admins and services only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from fastmcp import Client

from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from tests.helpers.common import serving
from tests.helpers.loans import call, refused
from tools.platform.principal import Role

HEALTH = "admin_platform_health"


async def test_platform_health_reports_what_ready_knows_and_marks_the_sandbox_simulated(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    principal("op-health", Role.OPERATOR)
    health = await call(client, HEALTH, {})
    app = build_server(runtime).http_app(path="/mcp", stateless_http=True)
    async with serving(app) as url, httpx.AsyncClient() as http:
        ready = (await http.get(f"{url}/ready")).json()
    assert health["ready"] is ready["ready"] is True
    assert set(health["dependencies"]) == set(ready["dependencies"])
    assert all(d["status"] == "up" for d in health["dependencies"].values())
    assert (health["simulated"], health["gateway"]) == (True, "sandbox")
    assert health["registry"] == ready["registry"]
    assert health["open_breakers"] == []
    assert not [note for note in health["attention"] if "down" in note or "paused" in note]
    assert "outbox" in health["queue_lag_s"]


async def test_platform_health_names_failed_jobs_and_open_breakers(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    # The queue name is this test's own: the database is shared with the other tests of the run.
    job_id = await core_db.fetchval(
        "INSERT INTO caas_core.jobs (queue, event_type, payload, failed_at, last_error) "
        "VALUES ('health_probe', 'test.event', '{}', $1, 'refused for good') RETURNING id",
        datetime.now(UTC),
    )
    router = runtime.deps.payments.router
    breaker = router.breaker("paystack")
    for _ in range(runtime.settings.breaker_failures):
        router.record_failure("paystack")
    try:
        principal("svc-health", Role.SERVICE)
        health = await call(client, HEALTH, {})
    finally:
        router.record_success("paystack")
        await core_db.execute("DELETE FROM caas_core.jobs WHERE id = $1", job_id)
    assert breaker.state.value == "closed"
    assert health["failed_jobs"]["health_probe"] == 1
    assert health["open_breakers"] == ["paystack"] and health["breakers"]["paystack"] == "open"
    assert "1 health_probe job(s) failed for good" in health["attention"]
    assert "payment vendor paystack is paused after failures" in health["attention"]


async def test_platform_health_is_read_only_and_for_staff(client: Client, principal: Any) -> None:
    tool = {t.name: t for t in await client.list_tools()}[HEALTH]
    assert tool.annotations is not None and tool.annotations.read_only_hint is True
    for role in (Role.BORROWER, Role.AGENT, Role.PROVIDER):
        principal(f"who-{role}", role)
        assert await refused(client, HEALTH, {}) == "permission_denied"
    principal("admin-health", Role.ADMIN)
    assert (await call(client, HEALTH, {}))["ready"] is True
    assert await refused(client, HEALTH, {"verbose": True}) == "invalid_argument"
