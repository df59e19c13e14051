"""Live updates over real HTTP (uvicorn): a change made by another process reaches a WebSocket client and
an SSE client; a provider is never told about another provider's bid; no token or a bad one is refused
(401, WebSocket close 1008); bad input never gets a 5xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastmcp import Client, FastMCP
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mcp_servers.composition import build_server
from mcp_servers.live_updates import POLICY_VIOLATION
from mcp_servers.platform.serving import ShutdownGate, http_app
from mcp_servers.runtime import Runtime
from tests.helpers.bidding import market, place
from tests.helpers.common import SERVICE_KEY, application, make_jwt, serving
from tests.mcp_servers.test_subscriptions import change_in_another_process, served
from tools.platform.principal import Principal, Role

SUBMIT = "credit_submit_application"
WITHDRAWN = "application.withdrawn"
FIELDS = {"type", "entity", "id", "reference", "occurred_at"}


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(served(runtime, sessions=False)) as url:
        yield url


def ws_url(base: str, token: str | None = None) -> str:
    url = base.replace("http://", "ws://") + "/live/ws"
    return url if token is None else f"{url}?access_token={token}"


async def ready(ws: ClientConnection) -> None:
    assert json.loads(await asyncio.wait_for(ws.recv(), 30)) == {"type": "live.ready"}


async def ws_until(ws: ClientConnection, entity_id: str, kind: str) -> list[dict[str, Any]]:
    """Every message up to and including the first ``kind`` event about ``entity_id``."""
    seen: list[dict[str, Any]] = []
    while not (seen and seen[-1]["id"] == entity_id and seen[-1]["type"] == kind):
        seen.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
    return seen


async def sse_ready(lines: AsyncIterator[str]) -> Any:
    while not (line := await asyncio.wait_for(anext(lines), 30)).startswith("data:"):
        pass
    return json.loads(line.removeprefix("data:"))


async def sse_until(lines: AsyncIterator[str], entity_id: str, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not (seen and seen[-1].get("id") == entity_id and seen[-1]["type"] == kind):
        line = await asyncio.wait_for(anext(lines), 30)
        if line.startswith("data:"):
            seen.append(json.loads(line.removeprefix("data:").strip()))
    return seen


async def test_a_change_made_by_another_process_reaches_a_websocket_and_an_sse_client(
    base_url: str, runtime: Runtime
) -> None:
    borrower = "b-live"
    token = make_jwt(borrower)
    async with Client(f"{base_url}/mcp", auth=token) as mcp:
        app: Any = (await mcp.call_tool(SUBMIT, {"application": application()})).structured_content
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        connect(ws_url(base_url)) as ws,
        httpx.AsyncClient(timeout=60) as http,
        http.stream("GET", f"{base_url}/live/events", headers=headers) as sse,
    ):
        await ws.send(json.dumps({"access_token": token}))  # the browser's way: no header on a WebSocket
        await ready(ws)
        assert sse.status_code == 200
        lines = sse.aiter_lines()
        assert await sse_ready(lines) == {"type": "live.ready"}
        await change_in_another_process(runtime, borrower, app["reference"])
        by_ws = await ws_until(ws, app["id"], WITHDRAWN)
        for seen in (by_ws, await sse_until(lines, app["id"], WITHDRAWN)):
            told = seen[-1]
            assert set(told) == FIELDS and told["entity"] == "application"
            assert told["reference"] == app["reference"] and told["occurred_at"]
            assert all(m["id"] == app["id"] for m in seen)  # nothing about anyone else's records
            assert borrower not in json.dumps(seen)  # nothing personal


async def test_a_provider_is_never_told_about_another_providers_bid(
    base_url: str, client: Client, principal: Any, country: str
) -> None:
    app, (mine, theirs) = await market(client, principal, country, lenders=2)
    token = make_jwt("lender-a-user", role="provider", provider_id=mine)
    async with connect(ws_url(base_url, token)) as ws:
        await ready(ws)
        other = await place(client, principal, app, theirs)
        own = await place(client, principal, app, mine)
        seen = await ws_until(ws, own["id"], "bid.placed")
    bids = [m["id"] for m in seen if m["entity"] == "bid"]
    assert bids == [own["id"]] and other["id"] != own["id"]
    # Besides its bid, only its own provider events (its invitation, if read after it connected) and the
    # application it was invited to (tests/mcp_servers/test_live_invited_provider.py).
    others = [(m["entity"], m["id"]) for m in seen if m["entity"] != "bid"]
    assert set(others) <= {("provider", mine), ("application", app["id"])}, seen


async def test_a_borrower_is_told_about_the_bids_on_its_own_application_only(
    base_url: str, client: Client, principal: Any, country: str
) -> None:
    app, (first, second) = await market(client, principal, country, lenders=2)
    stranger = make_jwt("b-stranger")
    async with (
        connect(ws_url(base_url, make_jwt(app["borrower_id"]))) as owner,
        connect(ws_url(base_url, stranger)) as other,
    ):
        await ready(owner)
        await ready(other)
        bids = [(await place(client, principal, app, p))["id"] for p in (first, second)]
        told = await ws_until(owner, bids[1], "bid.placed")
        assert [m["id"] for m in told if m["entity"] == "bid"] == bids
        # The stranger's own change, made after the bids: what reaches it first is its own.
        async with Client(f"{base_url}/mcp", auth=stranger) as mcp:
            mine: Any = (await mcp.call_tool(SUBMIT, {"application": application()})).structured_content
        seen = await ws_until(other, mine["id"], "application.submitted")
        assert {m["id"] for m in seen} == {mine["id"]}


async def test_no_token_or_a_bad_one_is_refused(base_url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for query in ("", "?access_token=nope", "?access_token=" + "x" * 20000):
            answer = await http.get(f"{base_url}/live/events{query}")
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "invalid_token", answer.text
        expired = make_jwt("b-late", exp=1)
        answer = await http.get(f"{base_url}/live/events", headers={"Authorization": f"Bearer {expired}"})
        assert answer.status_code == 401
    for url, first in (
        (ws_url(base_url, "not-a-token"), None),
        (ws_url(base_url), "not json"),
        (ws_url(base_url), json.dumps({"access_token": 12})),
        (ws_url(base_url), json.dumps(["access_token"])),
        # A RecursionError once: the socket dropped without a close frame, a traceback logged.
        (ws_url(base_url), "[" * 100_000 + "]" * 100_000),
    ):
        async with connect(url) as ws:
            if first is not None:
                await ws.send(first)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == POLICY_VIOLATION


async def test_bad_input_never_gets_a_server_error(base_url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for method, path, headers in (
            ("POST", "/live/events", {}),
            ("DELETE", "/live/events", {}),
            ("GET", "/live/events?access_token=%00%ff", {}),
            ("GET", "/live/events", {"Authorization": "Bearer"}),
            ("GET", "/live/events", {"Authorization": "Basic dTpw"}),
            ("GET", "/live/ws", {}),  # a WebSocket route asked over plain HTTP
        ):
            answer = await http.request(method, f"{base_url}{path}", headers=headers)
            assert answer.status_code < 500, (method, path, answer.status_code)


async def test_the_routes_are_not_served_without_bearer_authentication(server: FastMCP) -> None:
    # In-process servers (stdio, tests) run as the configured principal: nobody to authenticate live.
    paths = {getattr(route, "path", None) for route in server._additional_http_routes}
    assert not paths & {"/live/ws", "/live/events"}


async def test_a_live_stream_does_not_hold_a_shutdown(runtime: Runtime) -> None:
    gate = ShutdownGate()
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    app = http_app(server, runtime.settings.model_copy(update={"http_sessions": False}), "127.0.0.1", gate)
    headers = {"Authorization": f"Bearer {make_jwt('b-leaving')}"}
    async with (
        serving(app) as url,
        httpx.AsyncClient(timeout=60) as http,
        http.stream("GET", f"{url}/live/events", headers=headers) as sse,
    ):
        assert await sse_ready(sse.aiter_lines()) == {"type": "live.ready"}
        assert gate.inflight == 0  # draining need not wait for it
        gate.draining = True
        assert (await http.get(f"{url}/live/events", headers=headers)).status_code == 503


async def test_a_head_request_is_answered_without_following_the_outbox(runtime: Runtime) -> None:
    # A probe's find: each HEAD with a valid token joined the hub and never left it (sse-starlette
    # answers HEAD without running the stream, whose end is where a listener leaves).
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    [route] = [r for r in server._additional_http_routes if getattr(r, "path", None) == "/live/events"]
    listeners = route.endpoint.__self__._hub._listeners  # type: ignore[attr-defined]
    settings = runtime.settings.model_copy(update={"http_sessions": False})
    app = http_app(server, settings, "127.0.0.1", ShutdownGate())
    headers = {"Authorization": f"Bearer {make_jwt('b-peeking')}"}
    async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
        for _ in range(5):
            answer = await http.head(f"{url}/live/events", headers=headers)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(
                "text/event-stream"
            )
        assert (await http.head(f"{url}/live/events")).status_code == 401
        assert len(listeners) == 0
        async with http.stream("GET", f"{url}/live/events", headers=headers) as sse:
            assert await sse_ready(sse.aiter_lines()) == {"type": "live.ready"}
            assert len(listeners) == 1
        for _ in range(300):  # the stream ends as the server sees the client gone
            if not listeners:
                break
            await asyncio.sleep(0.05)
        assert len(listeners) == 0
