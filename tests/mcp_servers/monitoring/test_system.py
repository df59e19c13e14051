"""System performance and sync status through a real MCP client: latency and error counts move by
exactly the calls a test made, a sibling served over HTTP is merged and a dead one is listed as
unreachable, and the Supabase mirror's queue figures follow what the queue holds."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client

from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from mcp_servers.toolsets import TOOLSETS
from tests.helpers.common import free_port, serving
from tests.helpers.risk import call, refused, uid
from tools.monitoring.system import THIS_PROCESS
from tools.platform.principal import Role

PERFORMANCE = "monitoring_get_system_performance"
SYNC = "monitoring_get_sync_status"
PIPELINE = "monitoring_get_pipeline_health"


def monitoring_with(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """The runtime's monitoring dependencies with ``changes`` (CAAS_MONITOR_TARGETS, the sync mode)."""
    deps = runtime.deps
    monitoring = dataclasses.replace(deps.monitoring, **changes)
    monkeypatch.setattr(runtime, "_deps", dataclasses.replace(deps, monitoring=monitoring))


def row(result: dict[str, Any], tool: str, source: str = THIS_PROCESS) -> dict[str, Any] | None:
    found = [r for r in result["tools"] if r["tool"] == tool and r["source"] == source]
    return found[0] if found else None


async def test_calls_and_errors_move_by_exactly_the_calls_made(client: Client, principal: Any) -> None:
    principal(uid("op"), Role.OPERATOR)
    before = row(await call(client, PERFORMANCE, {"tool": "get_pipeline_health"}), PIPELINE)
    calls, errors = (before["calls"], before["errors"]) if before else (0, 0)
    for _ in range(3):
        await call(client, PIPELINE, {"currency": "NGN"})
    assert await refused(client, PIPELINE, {"currency": "ZZZ"}) == "invalid_argument"
    result = await call(client, PERFORMANCE, {"tool": "get_pipeline_health"})
    after = row(result, PIPELINE)
    assert after is not None and (after["calls"], after["errors"]) == (calls + 4, errors + 1)
    assert [r["tool"] for r in result["tools"]] == [PIPELINE]  # the filter, by plain name
    assert after["error_rate"] == str((Decimal(errors + 1) / (calls + 4)).quantize(Decimal("0.0001")))
    assert after["p50_ms"] is not None and after["p50_ms"] <= after["p95_ms"] <= after["p99_ms"]
    assert result["sources"] == [{"source": THIS_PROCESS, "status": "ok", "error": None, "tools": 1}]


async def test_a_sibling_is_merged_and_a_dead_one_is_unreachable(
    client: Client, principal: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal(uid("op"), Role.OPERATOR)
    await call(client, PIPELINE, {})  # so the histogram has this tool
    sibling = build_server(runtime, "monitoring")
    async with serving(sibling.http_app(path="/mcp", stateless_http=True)) as url:
        dead = f"http://127.0.0.1:{free_port()}/metrics"
        missing = f"{url}/no-metrics-here"
        monitoring_with(
            runtime, monkeypatch, targets=(f"{url}/metrics", dead, missing, "ftp://nowhere/metrics")
        )
        result = await call(client, PERFORMANCE, {})
    sources = {s["source"]: s for s in result["sources"]}
    assert sources[f"{url}/metrics"]["status"] == "ok" and sources[f"{url}/metrics"]["tools"] >= 1
    assert sources[dead]["status"] == "unreachable" and "ConnectError" in sources[dead]["error"]
    assert sources[missing]["status"] == "unreachable" and "HTTP 404" in sources[missing]["error"]
    assert sources["ftp://nowhere/metrics"]["status"] == "unreachable"
    # The sibling is served by this very process, so it reports exactly this process's figures.
    local, scraped = row(result, PIPELINE), row(result, PIPELINE, f"{url}/metrics")
    assert local is not None and scraped is not None
    assert {k: v for k, v in scraped.items() if k != "source"} == {
        k: v for k, v in local.items() if k != "source"
    }


async def test_the_monitoring_server_alone_serves_its_tools_plainly_over_http(runtime: Runtime) -> None:
    server = build_server(runtime, "monitoring")
    async with (
        serving(server.http_app(path="/mcp", stateless_http=True)) as url,
        Client(f"{url}/mcp") as http,
    ):
        names = sorted(t.name for t in await http.list_tools())
        status = (await http.call_tool("get_sync_status", {})).structured_content
        async with httpx.AsyncClient() as plain:
            metrics = await plain.get(f"{url}/metrics")
    assert names == sorted(TOOLSETS["monitor"].tools)
    assert status is not None and status["mode"] == "postgres"
    assert metrics.status_code == 200 and "caas_tool_call_seconds" in metrics.text


async def queue_job(db: asyncpg.Connection, *, failed: bool, age: timedelta) -> int:
    return int(
        await db.fetchval(
            "INSERT INTO caas_core.jobs (queue, ordering_key, event_id, event_type, payload, created_at, "
            "next_attempt_at, failed_at, attempts) VALUES ('supabase_sync', $1, $2, $3, $4::jsonb, "
            "now() - $5::interval, now() + interval '1 year', CASE WHEN $6 THEN now() END, 12) RETURNING id",
            uid("monitoring-test"),
            uuid.uuid4(),
            "application.monitoring_test_failed" if failed else "application.monitoring_test_waiting",
            json.dumps({}),
            age,
            failed,
        )
    )


async def test_sync_status_counts_what_waits_and_what_failed(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    principal(uid("admin"), Role.ADMIN)
    before = await call(client, SYNC, {})
    assert (before["mode"], before["configured"]) == ("postgres", True)
    added = [
        await queue_job(core_db, failed=True, age=timedelta(minutes=1)),
        await queue_job(core_db, failed=False, age=timedelta(hours=2)),
    ]
    try:
        after = await call(client, SYNC, {})
    finally:
        await core_db.execute("DELETE FROM caas_core.jobs WHERE id = ANY($1::bigint[])", added)
    assert after["failed_events"] == before["failed_events"] + 1
    assert after["last_failure"] == "application.monitoring_test_failed"
    assert after["pending_events"] == before["pending_events"] + 1
    assert after["oldest_pending_age_s"] >= 7200
    assert any("failed for good" in a for a in after["attention"])
    assert any("behind" in a for a in after["attention"])


async def test_on_the_embedded_default_the_mirror_is_not_configured(
    client: Client, principal: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitoring_with(runtime, monkeypatch, sync_mode="embedded")
    principal(uid("svc"), Role.SERVICE)
    status = await call(client, SYNC, {})
    assert (status["mode"], status["configured"]) == ("embedded", False)
    assert status["note"].startswith("The mirror is not configured")
