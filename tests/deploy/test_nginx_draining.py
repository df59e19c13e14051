"""A rolling restart behind the shipped nginx-integrated.conf: a replica draining after SIGTERM answers
503 to anything new, and nginx hands those calls to the other replica (a probe's find: nginx does not
pass a POST on to the next server unless told it may, and every MCP call is a POST, so 7 of 12 calls
failed while one replica drained)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.deploy.test_nginx import PAYSTACK_SECRET, nginx, shipped_upstreams
from tests.helpers.common import JWT_ISSUER, JWT_SECRET, application, free_port, make_jwt
from tests.helpers.deploy import caas_serve
from tests.helpers.locks import lock_waiters

pytestmark = pytest.mark.subprocess

META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "nginx-draining-test", "version": "1"},
}


def request(method: str, params: dict[str, Any], token: str) -> tuple[dict[str, Any], dict[str, str]]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": method,
    }
    if method == "tools/call":
        headers["Mcp-Name"] = params["name"]
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": META}}, headers


async def test_a_draining_replica_hands_new_calls_to_the_other(fresh_database: Any, tmp_path: Path) -> None:
    core = await fresh_database()
    env = {
        "NEON_DATABASE_URL": core,
        "CAAS_SANDBOX": "true",
        "CAAS_JWT_SECRET": JWT_SECRET,
        "CAAS_JWT_ISSUER": JWT_ISSUER,
        "PAYSTACK_SECRET_KEY": PAYSTACK_SECRET,
    }
    token = make_jwt("nginx-draining-borrower", role="borrower")
    async with contextlib.AsyncExitStack() as running:
        draining, a = await running.enter_async_context(caas_serve(tmp_path, "replica-a", **env))
        _, b = await running.enter_async_context(caas_serve(tmp_path, "replica-b", **env))
        closed = free_port()  # nothing else of the stack is part of this test
        ports = {name: [closed] for name in shipped_upstreams()}
        ports.update(caas_core=[a, b])
        url, _ = await running.enter_async_context(nginx(tmp_path / "nginx", ports))
        conn = await asyncpg.connect(core)
        running.push_async_callback(conn.close)
        holding = conn.transaction()
        await holding.start()
        await conn.execute("LOCK TABLE caas_core.applications")
        async with httpx.AsyncClient(timeout=60) as http:
            # A call in flight on replica a keeps it draining once it is told to stop.
            body, headers = request(
                "tools/call",
                {"name": "credit_submit_application", "arguments": {"application": application()}},
                token,
            )
            in_flight = asyncio.create_task(
                http.post(f"http://127.0.0.1:{a}/mcp", json=body, headers=headers)
            )
            await lock_waiters(conn)
            draining.send_signal(signal.SIGTERM)
            listing, headers = request("tools/list", {}, token)
            for _ in range(100):
                refused = await http.post(f"http://127.0.0.1:{a}/mcp", json=listing, headers=headers)
                if refused.status_code == 503:
                    break
                await asyncio.sleep(0.05)
            assert refused.status_code == 503, "replica a drains: anything new is refused"
            statuses = [
                (await http.post(f"{url}/mcp", json=listing, headers=headers)).status_code for _ in range(12)
            ]
            await holding.rollback()
            assert (await in_flight).status_code == 200  # the call in flight finished
        assert statuses == [200] * 12, f"through nginx while replica a drained: {statuses}"
