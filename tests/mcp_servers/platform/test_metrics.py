"""``/metrics`` exports the plan's metrics as facts of the database (issue 12, part 1): after ``caas
demo``'s whole journey, two separately built runtimes on the same databases (two processes) export the
same non-zero values, a new runtime exports them again, and a database that stops answering leaves its
facts out of the scrape instead of failing it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client
from prometheus_client.parser import text_string_to_metric_families

from mcp_servers.composition import build_server
from mcp_servers.config import Settings, load_settings
from mcp_servers.demo import CURRENCY, run_demo
from mcp_servers.platform.metrics import REVENUE_KINDS
from mcp_servers.runtime import Runtime
from tests.helpers.common import dsn_proxy, serving
from tests.helpers.confirm import person_confirms
from tests.helpers.metrics_history import Figures, from_history_and_totals
from tests.helpers.payments import platform_over_http
from tests.helpers.pgbouncer import core_urls
from tools.platform.principal import Principal, Role

PLAN = (
    "caas_applications_total",
    "caas_providers_active",
    "caas_disbursements_amount",
    "caas_platform_revenue",
)
# Facts of the database: every process must export the same values for them.
FACTS = (
    *PLAN,
    "caas_jobs_failed",
    "caas_jobs_running",
    "caas_payments_failed",
    "caas_ledger_reconcile_difference",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str, names: tuple[str, ...]) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in names
    }


def one(found: Samples, name: str, **labels: str) -> float:
    return found[name, tuple(sorted(labels.items()))]


async def scrape(base_url: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


@contextlib.asynccontextmanager
async def another_process(settings: Settings) -> AsyncIterator[str]:
    """A runtime and server of their own (own pools, own sandbox, no workers) on the same databases."""
    runtime = Runtime(settings.model_copy(update={"workers": False}))
    async with serving(build_server(runtime).http_app(path="/mcp")) as url:
        yield url


@pytest.fixture
async def settings(fresh_database: Any, tmp_path: Path) -> Settings:
    """Databases of this test alone, so every figure is what the one journey did."""
    return load_settings(
        **core_urls(await fresh_database()),
        supabase_db_url=await fresh_database(),
        data_dir=tmp_path,
        local_tokens=True,
        registry=False,
    )


async def loan_figures(runtime: Runtime) -> asyncpg.Record:
    """What the loans table says was lent and earned (the ledger is the metrics' source, not this)."""
    assert runtime.targets is not None
    db = await asyncpg.connect(runtime.targets.direct_core)
    try:
        row = await db.fetchrow(
            "SELECT sum(principal_minor) AS principal, sum(commission_minor) AS commission, "
            "(SELECT coalesce(sum(r.commission_minor), 0) FROM caas_core.loan_repayments r) AS share, "
            "(SELECT id FROM caas_ledger.journals WHERE kind = 'commission') AS commission_journal "
            "FROM caas_core.loans WHERE currency = $1",
            CURRENCY,
        )
    finally:
        await db.close()
    assert row is not None
    return row


async def counted_and_totalled(runtime: Runtime) -> tuple[Figures, Figures]:
    assert runtime.targets is not None
    db = await asyncpg.connect(runtime.targets.direct_core)
    try:
        return await from_history_and_totals(db)
    finally:
        await db.close()


async def reverse(runtime: Runtime, journal: Any) -> None:
    """An admin reverses a journal through the admin tool (a person confirms the money move)."""
    runtime.principals.local = Principal("metrics-admin", Role.ADMIN)
    async with Client(build_server(runtime), elicitation_handler=person_confirms) as client:
        args = {"journal": str(journal), "reason": "posted in error (metrics test)"}
        result = await client.call_tool("admin_reverse_journal", args, raise_on_error=False)
    assert not result.is_error, result.content


@pytest.mark.slow
async def test_the_plan_metrics_after_the_demo_are_the_same_in_two_processes_and_after_a_restart(
    settings: Settings,
) -> None:
    runtime = Runtime(settings)
    async with runtime.session(), platform_over_http(runtime) as url:
        workers = asyncio.create_task(runtime.workers.run())
        try:
            assert await run_demo(settings, f"{url}/mcp") == 0
        finally:
            runtime.workers.stop()
            await workers
        # The scrapes compare settled figures: a job the workers were still running at the first scrape
        # (a Supabase sync of the demo's last events) made caas_jobs_running 1 there and 0 after.
        await runtime.workers.drain()
        first = samples(await scrape(url), FACTS)
        async with another_process(settings) as other:
            second = samples(await scrape(other), FACTS)
        async with another_process(settings) as restarted:
            third = samples(await scrape(restarted), FACTS)
        loans = await loan_figures(runtime)
        await reverse(runtime, loans["commission_journal"])
        history, totals = await counted_and_totalled(runtime)
    async with another_process(settings) as later:
        reversed_ = samples(await scrape(later), FACTS)

    assert first == second == third
    # The demo: two lenders, one application that ends disbursed, one loan paid out in NGN (kobo).
    assert one(first, "caas_providers_active", currency=CURRENCY) == 2
    assert one(first, "caas_applications_total", status="submitted", currency=CURRENCY) == 1
    assert one(first, "caas_applications_total", status="disbursed", currency=CURRENCY) == 1
    assert loans["principal"] > 0 and loans["commission"] > 0
    assert one(first, "caas_disbursements_amount", currency=CURRENCY) == float(loans["principal"]) / 100
    revenue = {k: one(first, "caas_platform_revenue", currency=CURRENCY, kind=k) for k in REVENUE_KINDS}
    share = float(loans["share"]) / 100
    assert revenue == {"commission": float(loans["commission"]) / 100, "interest_share": share}
    assert one(first, "caas_ledger_reconcile_difference", currency=CURRENCY) == 0
    assert set(PLAN) <= {name for name, _ in first}
    # A reversal counts against the kind it reverses; nothing else moves and the books still reconcile.
    assert one(reversed_, "caas_platform_revenue", currency=CURRENCY, kind="commission") == 0
    changed = {key for key in first if first[key] != reversed_[key]}
    assert changed == {("caas_platform_revenue", (("currency", CURRENCY), ("kind", "commission")))}
    # The running totals the scrape reads (migration 0029) are what counting the journey's history gives.
    assert totals == history
    totalled = {metric for metric, _, _ in totals}
    assert totalled >= {"applications", "disbursed_minor", "revenue_minor", "webhook_deliveries"}


async def test_metrics_answer_200_without_the_database_facts_while_the_database_is_cut(
    fresh_database: Any, tmp_path: Path
) -> None:
    core, supabase = await fresh_database(), await fresh_database()
    async with dsn_proxy(core) as (proxy, core_dsn):
        settings = load_settings(
            database_url=core_dsn,
            supabase_db_url=supabase,
            data_dir=tmp_path,
            metrics_cache_s=0,
            registry=False,
        )
        async with serving(build_server(Runtime(settings)).http_app(path="/mcp")) as url:
            up = await scrape(url)
            errors = samples(up, ("caas_metrics_collect_errors_total",))
            assert "caas_providers_active" in up and "caas_outbox_lag_seconds" in up
            await proxy.cut()
            down = await scrape(url)
            await proxy.start()
            again = await scrape(url)

    assert "caas_providers_active" not in down and "caas_outbox_lag_seconds" not in down
    # What the process knows of itself is still there.
    assert 'caas_db_pool_connections{pool="supabase",state="max"}' in down
    count = ("caas_metrics_collect_errors_total", ())
    assert samples(down, count[:1])[count] == errors[count] + 1
    assert "caas_providers_active" in again
