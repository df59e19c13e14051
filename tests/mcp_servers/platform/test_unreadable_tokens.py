"""A bearer token the server cannot read is no token, on every route: a probe sent a JWT whose header
is JSON nested a thousand deep (no secret needed) and got a 500 on every route, /health, webhooks and
the pages included, because the verifier's decoding raised past it."""

from __future__ import annotations

import base64

import httpx

from mcp_servers.runtime import Runtime
from tests.helpers.payments import platform_over_http


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


NESTED = f"{_b64(b'[' * 1000 + b']' * 1000)}.{_b64(b'{}')}.x"


async def test_a_token_nested_past_the_decoders_depth_is_refused_not_a_500(runtime: Runtime) -> None:
    ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    mcp = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with platform_over_http(runtime) as base, httpx.AsyncClient() as http:
        bearer = {"Authorization": f"Bearer {NESTED}"}
        health = await http.get(f"{base}/health", headers=bearer)
        assert health.status_code == 200  # a probe needs no caller: the token is ignored, not fatal
        answer = await http.post(f"{base}/mcp", content=ping, headers={**bearer, **mcp})
        assert answer.status_code == 401, answer.text
        hook = await http.post(f"{base}/webhooks/paystack", content=b"{}", headers=bearer)
        assert hook.status_code < 500, hook.text
