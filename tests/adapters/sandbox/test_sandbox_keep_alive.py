"""The sandbox gateway, like ``caas serve``, outlasts its clients' keep-alive (httpx's 5 s): a payout sent
on a connection the server was closing that instant would fail with no answer."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from adapters.sandbox import Sandbox
from tests.helpers.raw_http import get_status, held_connection


async def test_an_idle_gateway_connection_is_still_open_after_httpxs_keep_alive_has_run_out(
    sandbox: Sandbox,
) -> None:
    host = urlsplit(sandbox.gateway_url).netloc
    async with held_connection(sandbox.gateway_url) as conn:
        assert await get_status(conn, host, "/health") == b"HTTP/1.1 200 OK"
        await asyncio.sleep(6.5)
        assert await get_status(conn, host, "/health") == b"HTTP/1.1 200 OK"
