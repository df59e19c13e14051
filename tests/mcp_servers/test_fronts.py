"""``caas serve --front``: the provider dashboard (3009), the operator console run alone and the live
service (3010) as processes of the composed server, run as an operator runs them. A front serves its
page and ``/`` leads to it, calls its page makes to ``/mcp`` pass the Host/Origin guard as a browser
sends them (on its own port, and on a public host behind a proxy), it runs no workers and no sandbox,
and the live front answers only the live routes and the probes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect

from mcp_servers.config import load_settings
from mcp_servers.fronts import FRONT_PORTS, FRONTS
from mcp_servers.processes import front_plan
from tests.deploy.test_nginx import tools_call
from tests.deploy.test_nginx_pages import page_call
from tests.helpers.caas_process import serve_process
from tests.helpers.common import JWT_ISSUER, JWT_SECRET, SERVICE_KEY, application, caas_env, make_jwt
from tests.helpers.pgbouncer import core_env
from tests.mcp_servers.test_cli import caas, one_line
from tests.mcp_servers.test_processes import migrated_with_an_event

PUBLIC = "dash.example.test"


def test_a_front_plan_runs_no_workers_and_no_sandbox_on_a_small_named_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CAAS_WORKERS", "CAAS_DB_POOL_MAX", "CAAS_POOL_MAX_SIZE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None, workers=True)  # CAAS_WORKERS=true does not make a front work
    plan = front_plan(settings, "provider")
    assert (plan.name, plan.pool_max, plan.workers, plan.owns_payments) == (
        "caas-front-provider",
        3,
        False,
        False,
    )
    assert not plan.needs_gateway()
    assert front_plan(settings, "live", pool_max=2).pool_max == 2
    # The plan's ports: the provider dashboard and the WebSocket service.
    assert FRONT_PORTS["provider"] == 3009 and FRONT_PORTS["live"] == 3010
    assert FRONTS["admin"].home == "/admin/" and FRONTS["live"].home is None


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--service", "risk"], "--service"),
        (["--stdio"], "stdio"),
        (["--workers"], "caas worker"),
    ],
)
async def test_a_front_with_a_flag_it_cannot_honour_exits_2_in_one_line(
    tmp_path: Path, flags: list[str], named: str
) -> None:
    code, out, err = await caas("serve", "--front", "provider", *flags, cwd=tmp_path)
    assert code == 2 and out == ""
    assert named in one_line(err)


@asynccontextmanager
async def front(
    tmp_path: Path, name: str, pair: dict[str, str], **env: str
) -> AsyncIterator[tuple[Any, int]]:
    settings = caas_env(
        CAAS_DATA_DIR=str(tmp_path / f"{name}-data"),
        CAAS_SERVICE_API_KEY=SERVICE_KEY,
        CAAS_REGISTRY="false",
        CAAS_JWT_SECRET=JWT_SECRET,
        CAAS_JWT_ISSUER=JWT_ISSUER,
        **pair,
        **env,
    )
    async with serve_process(["--front", name], settings, tmp_path) as served:
        yield served


async def submit(http: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    body = tools_call("credit_submit_application", {"application": application()})
    return await http.post("/mcp", json=body, headers=page_call(token, **headers))


@pytest.mark.subprocess
async def test_the_provider_front_serves_its_page_and_its_pages_calls_pass_the_origin_guard(
    fresh_database: Any, tmp_path: Path
) -> None:
    pair = {**core_env(await fresh_database()), "SUPABASE_DB_URL": await fresh_database()}
    conn, event = await migrated_with_an_event(pair, tmp_path)
    token = make_jwt("front-borrower", role="borrower")
    try:
        async with (
            front(tmp_path, "provider", pair, CAAS_ALLOWED_HOSTS=PUBLIC) as (proc, port),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
        ):
            home = await http.get("/")
            page = await http.get("/provider/")
            others = [await http.get(path) for path in ("/app/", "/admin/", "/admin")]
            own = f"http://127.0.0.1:{port}"
            # A page on this port calls /mcp with its own origin; another site's origin is refused.
            same = await submit(http, token, Origin=own)
            foreign = await submit(http, token, Origin="http://evil.example")
            # Behind a proxy on the public host (a port kept in Host, as nginx's $http_host does).
            public = await submit(http, token, Host=f"{PUBLIC}:8443", Origin=f"http://{PUBLIC}:8443")
            # TLS ended at a trusted proxy (127.0.0.1): the page's https origin is its own.
            tls = {"Host": PUBLIC, "X-Forwarded-Proto": "https"}
            https = await submit(http, token, **tls, Origin=f"https://{PUBLIC}")
            downgraded = await submit(http, token, **tls, Origin=f"http://{PUBLIC}")
            unknown = await submit(http, token, Host="other.example.test", Origin="http://other.example.test")
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'caas-front-provider'"
            )
            listening = {c.laddr.port for c in psutil.Process(proc.pid).net_connections("tcp") if not c.raddr}
            published = await conn.fetchval("SELECT published_at FROM caas_core.outbox WHERE id = $1", event)
    finally:
        await conn.close()
    assert home.status_code == 307 and home.headers["location"] == "/provider/"
    assert page.status_code == 200 and "script-src 'sha256-" in page.headers["content-security-policy"]
    assert [r.status_code for r in others] == [404, 404, 404]
    assert others[0].json()["error"]["code"] == "not_found" and "/provider/" in others[0].text
    for answer in (same, public, https):
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["structuredContent"]["reference"]
    assert (foreign.status_code, downgraded.status_code, unknown.status_code) == (403, 403, 421)
    assert 1 <= held <= 3
    assert listening == {port}  # no sandbox gateway or registry
    assert published is None  # no workers: the outbox event waits for `caas worker`


@pytest.mark.subprocess
async def test_the_live_front_pushes_changes_and_answers_nothing_else(
    fresh_database: Any, tmp_path: Path
) -> None:
    pair = {**core_env(await fresh_database()), "SUPABASE_DB_URL": await fresh_database()}
    conn, _ = await migrated_with_an_event(pair, tmp_path)
    await conn.close()
    token = make_jwt("live-front-borrower", role="borrower")
    async with (
        front(tmp_path, "live", pair) as (_, live),
        front(tmp_path, "provider", pair) as (_, dashboard),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{live}", timeout=60) as http,
        connect(f"ws://127.0.0.1:{live}/live/ws") as ws,
    ):
        await ws.send(json.dumps({"access_token": token}))
        assert json.loads(await ws.recv()) == {"type": "live.ready"}
        # A change made through another process reaches the live service (the outbox, not the process).
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{dashboard}", timeout=60) as other:
            made = await submit(other, token)
        filed = made.json()["result"]["structuredContent"]
        told = await asyncio.wait_for(_told_about(ws, filed["id"]), 30)
        refused = {path: (await http.get(path)).status_code for path in ("/", "/mcp", "/provider/", "/app/")}
        posted = await submit(http, token)
        probes = {path: (await http.get(path)).status_code for path in ("/ready", "/health", "/metrics")}
        async with http.stream("GET", "/live/events", params={"access_token": token}) as sse:
            first = [line async for line in _until_data(sse.aiter_lines())]
    assert told["entity"] == "application" and told["reference"] == filed["reference"]
    assert refused == dict.fromkeys(refused, 404)
    assert posted.status_code == 404 and "live updates only" in posted.json()["error"]["message"]
    assert probes == dict.fromkeys(probes, 200)
    assert json.loads(first[-1].removeprefix("data:")) == {"type": "live.ready"}


async def _told_about(ws: ClientConnection, entity_id: str) -> dict[str, Any]:
    while (told := json.loads(await ws.recv()))["id"] != entity_id:
        pass
    told_about: dict[str, Any] = told
    return told_about


async def _until_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        yield line
        if line.startswith("data:"):
            return


def test_the_live_front_refuses_a_websocket_elsewhere() -> None:
    # A WebSocket to any other path of the live front is closed before it is accepted (HTTP 403).
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from mcp_servers.fronts import FrontRoutes

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("hello")
        await ws.close()

    app = FrontRoutes(
        Starlette(routes=[WebSocketRoute("/live/ws", echo), WebSocketRoute("/other", echo)]), "live"
    )
    with TestClient(app) as client:
        with client.websocket_connect("/live/ws") as ws:
            assert ws.receive_text() == "hello"
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/other"):
            pass
    assert refused.value.code == 1008
