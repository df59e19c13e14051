"""DNS-rebinding protection on every route we serve (issue 10, item 3): a ``Host`` that is not this
server's is 421, a foreign ``Origin`` is 403, before authentication and before any tool runs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mcp_servers.composition import build_server
from mcp_servers.config import Settings, load_settings
from mcp_servers.platform.serving import ShutdownGate, allowed_hosts, http_app
from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY, application, serving
from tools.platform.principal import Principal, Role

JSONRPC = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
SUBMIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "credit_submit_application", "arguments": {"application": application()}},
}
# Every kind of route: MCP, the probes, metrics, and the vendors' webhooks.
ROUTES = [
    ("POST", "/mcp"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("POST", "/webhooks/paystack"),
]


@pytest.fixture(scope="module")
async def base_url(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    configured = settings.model_copy(
        update={"allowed_origins": "https://app.example.com", "allowed_hosts": "caas.internal"}
    )
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    async with serving(http_app(server, configured, "127.0.0.1", ShutdownGate())) as url:
        yield url


def authorised(**headers: str) -> dict[str, str]:
    return {**JSONRPC, "Authorization": f"Bearer {SERVICE_KEY}", **headers}


async def count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM caas_core.applications"))


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_a_host_that_is_not_ours_is_421_on_every_route(base_url: str, method: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.request(method, path, headers=authorised(Host="rebound.attacker.example"))
    assert response.status_code == 421


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_a_foreign_origin_is_403_on_every_route(base_url: str, method: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.request(method, path, headers=authorised(Origin="https://attacker.example"))
    assert response.status_code == 403


async def test_a_refused_origin_runs_no_tool(base_url: str, core_db: asyncpg.Connection) -> None:
    before = await count(core_db)
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/mcp", json=SUBMIT, headers=authorised(Origin="http://evil.example"))
    assert response.status_code == 403
    assert await count(core_db) == before


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no Origin (not a browser)"),
        pytest.param({"Origin": "https://app.example.com"}, id="CAAS_ALLOWED_ORIGINS"),
        pytest.param({"Host": "caas.internal"}, id="CAAS_ALLOWED_HOSTS"),
        pytest.param({"Host": "localhost"}, id="loopback name"),
        pytest.param({"Origin": "http://localhost:5173"}, id="loopback origin on a loopback bind"),
    ],
)
async def test_allowed_hosts_and_origins_reach_the_server(base_url: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=authorised(**headers)
        )
        same_origin = await http.get("/health", headers={"Origin": base_url})
    assert response.status_code == 200, response.text
    assert same_origin.status_code == 200


def test_the_allowed_hosts_follow_the_bind_address_and_the_public_url(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path, public_url="https://caas.example.com/{service}/mcp", allowed_hosts="a.example, b"
    )
    assert allowed_hosts(settings, "10.1.2.3") == ["a.example", "b", "10.1.2.3", "caas.example.com"]
    # Bound everywhere: this machine's name, which the registry is given, besides loopback.
    assert socket.gethostname() in allowed_hosts(settings, "0.0.0.0")
    assert "::1" in allowed_hosts(settings, "[::1]")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"Host": "rebound.attacker.example"}, 403, id="a foreign Host"),
        pytest.param({"Origin": "https://attacker.example"}, 403, id="a foreign Origin"),
        pytest.param({"Origin": "https://app.example.com"}, 101, id="CAAS_ALLOWED_ORIGINS"),
        pytest.param({}, 101, id="no Origin (not a browser)"),
    ],
)
async def test_a_websocket_handshake_passes_the_same_guard(
    base_url: str, headers: dict[str, str], status: int
) -> None:
    # A probe's find: /live/ws took a foreign Host or Origin (101) where every other route refused it.
    url = base_url.replace("http://", "ws://") + "/live/ws"
    port = int(base_url.rsplit(":", 1)[1])
    if "Host" in headers:  # the client sends the URL's host; the connection goes to ours all the same
        url = f"ws://{headers.pop('Host')}:{port}/live/ws"
    if status != 101:
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, additional_headers=headers, open_timeout=10, host="127.0.0.1", port=port)
        assert refused.value.response.status_code == status
        return
    async with connect(url, additional_headers=headers, open_timeout=10) as ws:
        await ws.send("not a token")  # accepted, then refused for the token: 1008
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
