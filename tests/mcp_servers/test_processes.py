"""A process per service: `caas serve --service X` carries X's tools, a pool sized for one service
named after it, no workers unless asked and no sandbox unless it owns payments; `caas worker --queues`
runs the queues it is given."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_servers.catalog import INDEX, render_index
from mcp_servers.composition import SERVICES
from mcp_servers.config import load_settings
from mcp_servers.processes import QUEUES, composed_plan, service_plan, worker_plan
from mcp_servers.runtime import Runtime
from mcp_servers.wiring import build_workers
from tests.helpers.caas_process import serve_process
from tests.helpers.common import SERVICE_KEY, caas_env
from tests.helpers.pgbouncer import core_env
from tests.mcp_servers.test_cli import caas, one_line

NOOP_EVENT = (
    "INSERT INTO caas_core.outbox (aggregate_type, aggregate_id, event_type, payload) "
    "VALUES ('test', 't-1', 'test.noop', '{}') RETURNING id"
)


@pytest.fixture
async def fresh_pair(fresh_database: Any) -> dict[str, str]:
    return {**core_env(await fresh_database()), "SUPABASE_DB_URL": await fresh_database()}


@asynccontextmanager
async def serving(
    tmp_path: Path, *args: str, **env: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``caas serve args`` on a free port; yields the process and its base URL once /ready is 200."""
    settings = caas_env(
        CAAS_DATA_DIR=str(tmp_path / "data"), CAAS_SERVICE_API_KEY=SERVICE_KEY, CAAS_REGISTRY="false", **env
    )
    async with serve_process(args, settings, tmp_path) as (proc, port):
        yield proc, f"http://127.0.0.1:{port}"


# This process's sessions on this test's database: other tests' processes (and PgBouncer's server
# connections they left named after them) are on databases of their own.
HELD = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE application_name = 'caas-risk' AND datname = current_database()"
)


async def migrated_with_an_event(pair: dict[str, str], tmp_path: Path) -> tuple[asyncpg.Connection, int]:
    """The databases migrated, and one outbox event waiting that only a worker would relay."""
    code, _, err = await caas("db", "migrate", cwd=tmp_path, **pair)
    assert code == 0, err
    conn = await asyncpg.connect(pair.get("NEON_DIRECT_URL", pair["NEON_DATABASE_URL"]))
    return conn, await conn.fetchval(NOOP_EVENT)


@pytest.mark.subprocess
async def test_one_service_lists_only_its_tools_holds_its_pool_and_runs_no_workers_or_sandbox(
    fresh_pair: dict[str, str], tmp_path: Path
) -> None:
    conn, event = await migrated_with_an_event(fresh_pair, tmp_path)
    try:
        # No gateway and no CAAS_SANDBOX: a risk process needs neither, as it never runs the sandbox.
        async with serving(tmp_path, "--service", "risk", **fresh_pair) as (proc, base):
            transport = StreamableHttpTransport(
                f"{base}/mcp", headers={"X-CaaS-Toolsets": "all"}, auth=SERVICE_KEY
            )
            async with Client(transport, mode="2026-07-28") as client:
                names = {tool.name for tool in await client.list_tools()}
            async with httpx.AsyncClient(base_url=base) as http:
                metrics = (await http.get("/metrics")).text
                health = (await http.get("/health")).json()
            held = await conn.fetchval(HELD)
            listening = {c.laddr.port for c in psutil.Process(proc.pid).net_connections("tcp") if not c.raddr}
            published = await conn.fetchval("SELECT published_at FROM caas_core.outbox WHERE id = $1", event)
    finally:
        await conn.close()
    risk = {spec.fn.__name__ for toolset in SERVICES["risk"] for spec in toolset.specs}
    others = {spec.fn.__name__ for s in SERVICES if s != "risk" for ts in SERVICES[s] for spec in ts.specs}
    assert names and names <= risk
    assert not names & others
    assert 1 <= held <= 3  # the single-service default pool, named after the process
    assert listening == {int(base.rsplit(":", 1)[1])}  # its own port: no sandbox gateway or registry
    assert health["payments"] == {"gateway": "none", "simulated": True}
    assert "caas_worker_loops{" not in metrics  # the worker loops never started
    assert published is None


@pytest.mark.subprocess
async def test_workers_run_in_one_service_only_with_the_workers_flag(
    fresh_pair: dict[str, str], tmp_path: Path
) -> None:
    # Workers send payments and notifications: a process that is not payments needs a gateway for them.
    code, _, err = await caas("serve", "--service", "risk", "--workers", cwd=tmp_path, **fresh_pair)
    assert code == 2 and "ONASIS_GATEWAY_URL" in one_line(err)
    conn, event = await migrated_with_an_event(fresh_pair, tmp_path)
    gateway = {"ONASIS_GATEWAY_URL": "http://127.0.0.1:9"}  # never called: the event needs no gateway
    try:
        async with serving(
            tmp_path, "--service", "risk", "--workers", "--pool-max", "2", **gateway, **fresh_pair
        ) as (_, base):
            deadline = time.monotonic() + 60
            while (
                await conn.fetchval("SELECT published_at FROM caas_core.outbox WHERE id = $1", event) is None
            ):
                assert time.monotonic() < deadline, "the workers of --workers never relayed the outbox"
                await asyncio.sleep(0.2)
            held = await conn.fetchval(HELD)
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"{base}/metrics")).text
    finally:
        await conn.close()
    assert 1 <= held <= 2 * 2  # --pool-max 2: the core pool and the Supabase one, two each at most
    assert 'caas_worker_loops{loop="outbox"} 1.0' in metrics


@pytest.mark.subprocess
async def test_worker_with_an_unknown_queue_exits_2_in_one_line_naming_the_known_ones(tmp_path: Path) -> None:
    code, out, err = await caas("worker", "--queues", "outbox,nope", cwd=tmp_path)
    assert code == 2 and out == ""
    line = one_line(err)
    assert "'nope'" in line and all(queue in line for queue in QUEUES)


@pytest.mark.subprocess
async def test_worker_help_lists_every_queue(tmp_path: Path) -> None:
    code, out, _ = await caas("worker", "--help", cwd=tmp_path)
    assert code == 0
    assert all(queue in out for queue in QUEUES)


@pytest.mark.subprocess
async def test_worker_runs_only_the_queues_it_is_given_and_needs_no_gateway_for_the_outbox(
    fresh_pair: dict[str, str], tmp_path: Path
) -> None:
    conn, event = await migrated_with_an_event(fresh_pair, tmp_path)
    try:
        code, out, err = await caas(
            "worker", "--once", "--queues", "supabase_sync", cwd=tmp_path, **fresh_pair
        )
        assert code == 0, err
        assert await conn.fetchval("SELECT published_at FROM caas_core.outbox WHERE id = $1", event) is None
        code, out, err = await caas("worker", "--once", "--queues", "outbox", cwd=tmp_path, **fresh_pair)
        assert code == 0, err
        assert out == "worker: 1 item(s) done\n"
        assert (
            await conn.fetchval("SELECT published_at FROM caas_core.outbox WHERE id = $1", event) is not None
        )
    finally:
        await conn.close()


@pytest.mark.subprocess
async def test_worker_once_runs_each_periodic_job_it_is_given_once(
    fresh_pair: dict[str, str], tmp_path: Path
) -> None:
    # A probe's find: --once ran the queues only, so on a scheduler the periodic jobs (expiry, the
    # lenders' decision counts, aging, reconciliation) never ran.
    conn, _ = await migrated_with_an_event(fresh_pair, tmp_path)
    try:
        checks = "SELECT count(*) FROM caas_ledger.reconciliations"
        before = await conn.fetchval(checks)
        code, out, err = await caas(
            "worker",
            "--once",
            "--queues",
            "reconcile_ledger,fold_provider_decisions",
            cwd=tmp_path,
            **fresh_pair,
        )
        assert code == 0, err
        assert out.splitlines()[1] == "worker: periodic jobs ran: fold_provider_decisions, reconcile_ledger"
        assert await conn.fetchval(checks) == before + 1
    finally:
        await conn.close()


async def test_the_queue_names_are_the_work_build_workers_makes(runtime: Runtime) -> None:
    every = runtime.workers
    assert ["outbox", *every.handlers, *(job.name for job in every.periodic)] == list(QUEUES)
    deps, pool = runtime.deps, runtime.core_pool
    assert pool is not None
    some = build_workers(
        runtime.settings, deps, pool, runtime.clock, queues=frozenset({"payments", "age_loans"})
    )
    assert not some.relay
    assert list(some.handlers) == ["payments"]
    assert [job.name for job in some.periodic] == ["age_loans"]


def test_plans_by_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CAAS_WORKERS", "CAAS_DB_POOL_MAX", "CAAS_POOL_MAX_SIZE", "ONASIS_GATEWAY_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None)
    composed, risk, payments = (
        composed_plan(settings),
        service_plan(settings, "risk"),
        service_plan(settings, "payments"),
    )
    assert (composed.name, composed.pool_max, composed.workers, composed.owns_payments) == (
        "caas",
        16,
        True,
        True,
    )
    assert (risk.name, risk.pool_max, risk.workers, risk.owns_payments) == ("caas-risk", 3, False, False)
    assert payments.owns_payments and not payments.workers
    assert service_plan(settings, "risk", workers=True, pool_max=5).pool_max == 5
    off = load_settings(_env_file=None, workers=False, pool_max_size=8)
    assert not composed_plan(off).workers and composed_plan(off).pool_max == 8
    assert service_plan(load_settings(_env_file=None, workers=True), "risk").workers
    only = worker_plan(settings, frozenset({"outbox"}))
    assert only.name == "caas-worker" and not only.owns_payments and not only.needs_gateway()
    assert worker_plan(settings, None).needs_gateway()


def test_the_tool_index_is_generated_from_services() -> None:
    # Stale after a tool is added or renamed: run python -m mcp_servers.catalog.
    assert INDEX.read_text(encoding="utf-8") == render_index()


BUILD_ONE = """
import sys
from mcp_servers.composition import SERVICES, build_server
from mcp_servers.config import load_settings
from mcp_servers.runtime import Runtime
build_server(Runtime(load_settings(_env_file=None)), sys.argv[1])
print("\\n".join(sorted(sys.modules)))
"""


@pytest.mark.subprocess
@pytest.mark.parametrize("service", ["risk", "payments"])
async def test_a_server_for_one_service_imports_that_service_s_tool_modules_only(
    service: str, tmp_path: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BUILD_ONE,
        service,
        env=caas_env(CAAS_DATA_DIR=str(tmp_path / "data")),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    loaded = set(out.decode().split())
    own = set(SERVICES.modules(service))
    others = {m for s in SERVICES if s != service for m in SERVICES.modules(s)} - own
    assert own <= loaded
    assert not others & loaded
    assert "supabase" not in loaded  # supabase-py only where Supabase is reached over HTTP
