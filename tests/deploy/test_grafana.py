"""The Grafana dashboard (issue 12, part 5) asks questions a real Prometheus can answer: every panel's
PromQL, with the dashboard's variables filled in, returns data from a Prometheus (Debian's package,
2.42) that scraped a real ``caas serve`` while ``caas demo`` ran the whole journey against it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from fastmcp import Client

from tests.helpers.caas_process import caas_serve, demo_environment, run
from tests.helpers.common import REPO_ROOT, free_port

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "caas.json"
PATIENCE_S = 90.0  # how long Prometheus may take to start and scrape, not a speed requirement
# What Grafana would put in place of each variable: the demo lends in NGN; a rate window that covers
# the whole run at a one-second scrape interval.
VARIABLES = {"currency": "NGN", "__rate_interval": "5m"}


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel, rows' nested panels included."""
    found = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found += [(inner["title"], target["expr"]) for target in inner.get("targets", [])]
    return found


def substituted(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in VARIABLES, f"the test does not know the dashboard variable ${name}"
        return VARIABLES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def test_the_dashboard_names_the_provisioned_datasource_and_only_known_variables() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {source["uid"] for source in sources["datasources"]}
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "caas.yml").read_text())
    assert [p["type"] for p in providers["providers"]] == ["file"]
    board = dashboard()
    panels = [p for row in board["panels"] for p in [row, *row.get("panels", [])] if p["type"] != "row"]
    assert {p["datasource"]["uid"] for p in panels} == uids
    variables = {v["name"] for v in board["templating"]["list"]}
    assert variables == {name for name in VARIABLES if not name.startswith("__")}
    queries = panel_queries(board)
    assert len(queries) >= 20
    for _, expr in queries:
        assert "$" not in substituted(expr)
    plan = ("caas_applications_total", "caas_providers_active", "caas_disbursements_amount")
    for metric in (*plan, "caas_platform_revenue", "caas_tool_call_seconds_bucket"):
        assert any(metric in expr for _, expr in queries), metric


@asynccontextmanager
async def prometheus(target: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A real Prometheus scraping ``target`` (host:port) every second; yields a client of its API."""
    binary = shutil.which("prometheus")
    assert binary is not None, "Prometheus is not installed: apt-get install -y prometheus (.ci/run does)"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "caas", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            await until(lambda: ready(api), "Prometheus ready")
            yield api
    finally:
        proc.terminate()
        await proc.wait()


async def ready(api: httpx.AsyncClient) -> bool:
    try:
        return (await api.get("/-/ready")).status_code == 200
    except httpx.TransportError:
        return False


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it is true (Prometheus scrapes on its own schedule)."""
    try:
        async with asyncio.timeout(PATIENCE_S):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def query(api: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    answer = (await api.get("/api/v1/query", params={"query": expr})).json()
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])


async def test_every_panel_query_returns_data_from_prometheus_after_the_demo(
    fresh_database: Any, tmp_path: Path
) -> None:
    env = await demo_environment(fresh_database, tmp_path / "data")
    async with caas_serve(env, tmp_path) as url, prometheus(urlsplit(url).netloc, tmp_path) as api:
        code, out, err = await run("demo", "--url", url, env=env, cwd=tmp_path)
        assert code == 0, out + err

        async def scraped_after_the_demo() -> bool:
            # Twice: increase() and delta() need two samples of a series (the facts refresh every 10 s).
            seen = 'count_over_time(caas_applications_total{status="disbursed"}[5m]) >= 2'
            return bool(await query(api, seen))

        await until(scraped_after_the_demo, "a scrape after the demo")
        series = (await api.get("/api/v1/series", params={"match[]": "caas_providers_active"})).json()
        assert VARIABLES["currency"] in {s["currency"] for s in series["data"]}
        # rate() needs a counter that grew between two scrapes; the demo may call each tool once and
        # finish between two of them, so an operator keeps using the server until every panel has data.
        code, token, err = await run("token", env=env, cwd=tmp_path)
        assert code == 0, err
        empty: list[tuple[str, str, list[float]]] = []

        async def every_panel_has_data() -> bool:
            async with Client(url, auth=token.strip()) as operator:
                await operator.call_tool("admin_platform_health", {})
            empty[:] = await panels_without_data(api)
            return not empty

        with contextlib.suppress(AssertionError):  # the assertion below names the panels
            await until(every_panel_has_data, "data in every panel")
    assert empty == []


async def panels_without_data(api: httpx.AsyncClient) -> list[tuple[str, str, list[float]]]:
    empty = []
    for title, expr in panel_queries(dashboard()):
        values = [float(r["value"][1]) for r in await query(api, substituted(expr))]
        if not any(math.isfinite(v) for v in values):
            empty.append((title, expr, values))
    return empty
