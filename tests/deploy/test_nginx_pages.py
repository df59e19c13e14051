"""The pages and live updates through deploy/nginx-integrated.conf with the real nginx (issue 13): the
shipped file, unchanged, in front of the composed server, the admin service and the three fronts
(``caas serve --front provider|admin|live``), each a real process on its own port. /app/, /provider/ and
/admin/ reach their servers while /admin/mcp stays the admin service's; a WebSocket upgrades through
nginx to the live service and is pushed a change; SSE events stream through unbuffered; a page on the
public host (its port kept in Host) calls /mcp with the Origin a browser sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from tests.deploy.test_nginx import nginx, shipped_upstreams, tools_call
from tests.helpers.common import JWT_ISSUER, JWT_SECRET, application, free_port, make_jwt
from tests.helpers.deploy import DEPLOY, caas_serve

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

PUBLIC_HOST = "caas.example.test"


@dataclass
class Stack:
    url: str
    ports: dict[str, int]  # core, admin, provider-front, admin-front, live-front
    access_log: Path

    async def upstream_of(self, uri: str, status: int | None = None) -> str:
        """Where nginx sent the last request for ``uri`` (waiting for its log line: a WebSocket's is
        written when it closes)."""
        for _ in range(50):
            lines = [json.loads(x) for x in self.access_log.read_text().splitlines() if x.startswith("{")]
            found = [x for x in lines if x["uri"] == uri and (status is None or x["status"] == status)]
            if found:
                upstream: str = found[-1]["upstream"]
                return upstream
            await asyncio.sleep(0.1)
        raise AssertionError(f"nginx logged no {uri} answered {status}")

    def at(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"


@pytest.fixture(scope="module")
async def stack(fresh_database: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    core = await fresh_database()
    work = tmp_path_factory.mktemp("nginx-pages")
    env = {
        "NEON_DATABASE_URL": core,
        "CAAS_SANDBOX": "true",
        "CAAS_JWT_SECRET": JWT_SECRET,
        "CAAS_JWT_ISSUER": JWT_ISSUER,
        # The public host the browser names (CAAS_PUBLIC_URL's host is allowed the same way).
        "CAAS_ALLOWED_HOSTS": PUBLIC_HOST,
    }
    async with contextlib.AsyncExitStack() as running:
        _, caas = await running.enter_async_context(caas_serve(work, "core", **env))  # migrates
        started = await asyncio.gather(
            running.enter_async_context(caas_serve(work, "admin", "--service", "admin", **env)),
            *(
                running.enter_async_context(caas_serve(work, f"front-{front}", "--front", front, **env))
                for front in ("provider", "admin", "live")
            ),
        )
        admin, provider, console, live = (port for _, port in started)
        closed = free_port()  # the Onasis stack is not part of this test: nothing listens there
        ports = {name: [admin] for name in shipped_upstreams()}
        ports.update(
            caas_core=[caas],
            caas_front_provider=[provider],
            caas_front_admin=[console],
            caas_front_live=[live],
            onasis_gateway=[closed],
            onasis_mcp=[closed],
        )
        url, access_log = await running.enter_async_context(nginx(work / "nginx", ports))
        named = {"core": caas, "admin": admin, "provider": provider, "console": console, "live": live}
        yield Stack(url, named, access_log)


def test_the_live_location_upgrades_websockets_and_keeps_streams_open() -> None:
    conf = (DEPLOY / "nginx-integrated.conf").read_text()
    block = re.search(r"location /live/ \{(.*?)\}", conf, re.S)
    assert block is not None
    live = block.group(1)
    for line in (
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $caas_connection;",
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Request-ID $request_id;",
        "proxy_buffering off;",
        "proxy_read_timeout 1h;",
        "proxy_pass http://caas_front_live;",
    ):
        assert line in live, line


async def test_each_page_reaches_its_server_and_admin_mcp_stays_with_the_admin_service(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
        pages = {path: await http.get(path) for path in ("/app/", "/provider/", "/admin/")}
        bare = await http.get("/admin")
    for path, answer in pages.items():
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in answer.headers
    assert await stack.upstream_of("/app/") == stack.at("core")
    assert await stack.upstream_of("/provider/") == stack.at("provider")
    assert await stack.upstream_of("/admin/") == stack.at("console")
    assert bare.status_code == 301 and bare.headers["location"].endswith("/admin/")  # nginx's own
    token = make_jwt(f"nginx-pages-op-{uuid.uuid4().hex[:6]}", role="operator")
    async with Client(f"{stack.url}/admin/mcp", auth=token) as client:
        names = {tool.name for tool in await client.list_tools()}
    # The admin service's own tools, unprefixed: not the console's composed server.
    assert "reconcile_ledger" in names and not any(name.startswith("admin_") for name in names)
    assert await stack.upstream_of("/admin/mcp", 200) == stack.at("admin")


async def submit(stack: Stack, token: str) -> dict[str, Any]:
    async with Client(f"{stack.url}/mcp", auth=token) as client:
        filed = await client.call_tool("credit_submit_application", {"application": application()})
    assert filed.structured_content is not None
    return filed.structured_content


async def told_about(ws: ClientConnection, entity_id: str) -> dict[str, Any]:
    while (told := json.loads(await ws.recv()))["id"] != entity_id:
        pass
    seen: dict[str, Any] = told
    return seen


async def test_a_websocket_upgrades_through_nginx_to_the_live_service_and_is_pushed_a_change(
    stack: Stack,
) -> None:
    token = make_jwt(f"nginx-ws-{uuid.uuid4().hex[:6]}", role="borrower")
    url = stack.url.replace("http://", "ws://") + "/live/ws"
    async with connect(url, origin=Origin(stack.url)) as ws:  # a browser sends its page's origin
        await ws.send(json.dumps({"access_token": token}))  # bridge.js's way: no token in the URL
        assert json.loads(await asyncio.wait_for(ws.recv(), 30)) == {"type": "live.ready"}
        filed = await submit(stack, token)
        told = await asyncio.wait_for(told_about(ws, filed["id"]), 30)
    assert told["entity"] == "application" and told["reference"] == filed["reference"]
    assert await stack.upstream_of("/live/ws", 101) == stack.at("live")


async def test_server_sent_events_stream_through_nginx_unbuffered(stack: Stack) -> None:
    token = make_jwt(f"nginx-sse-{uuid.uuid4().hex[:6]}", role="borrower")
    async with (
        httpx.AsyncClient(timeout=60) as http,
        http.stream("GET", f"{stack.url}/live/events", params={"access_token": token}) as sse,
    ):
        assert sse.status_code == 200
        assert sse.headers["content-type"].startswith("text/event-stream")
        lines = sse.aiter_lines()
        # Each event arrives as it is sent: a buffering proxy would hold these until its buffer filled.
        assert await asyncio.wait_for(next_data(lines), 30) == {"type": "live.ready"}
        filed = await submit(stack, token)
        while (told := await asyncio.wait_for(next_data(lines), 30)).get("id") != filed["id"]:
            pass
    assert told["type"] == "application.submitted" and told["reference"] == filed["reference"]
    assert await stack.upstream_of("/live/events", 200) == stack.at("live")


async def next_data(lines: AsyncIterator[str]) -> dict[str, Any]:
    async for line in lines:
        if line.startswith("data:"):
            data: dict[str, Any] = json.loads(line.removeprefix("data:"))
            return data
    raise AssertionError("the stream ended")


def page_call(token: str, **headers: str) -> dict[str, str]:
    """What a page's fetch to /mcp sends (mcp_servers/apps/bridge.js), plus ``headers``."""
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "credit_submit_application",
        **headers,
    }


async def test_a_page_on_the_public_host_calls_mcp_through_nginx_with_its_origin(stack: Stack) -> None:
    # The browser is at http://caas.example.test:<nginx port>/provider/: Host and Origin carry the port.
    public = f"{PUBLIC_HOST}:{stack.url.rsplit(':', 1)[1]}"
    token = make_jwt(f"nginx-origin-{uuid.uuid4().hex[:6]}", role="borrower")
    body = tools_call("credit_submit_application", {"application": application()})
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
        page = await http.get("/provider/", headers={"Host": public})
        own = await http.post(
            "/mcp", json=body, headers=page_call(token, Host=public, Origin=f"http://{public}")
        )
        foreign = await http.post(
            "/mcp", json=body, headers=page_call(token, Host=public, Origin="http://evil.example")
        )
    assert page.status_code == 200
    assert own.status_code == 200, own.text
    assert own.json()["result"]["structuredContent"]["reference"]
    assert foreign.status_code == 403
