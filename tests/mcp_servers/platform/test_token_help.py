"""A 401 says in its body how to get a token (issue 11, item 11): the configured issuer, or
`caas token` where the local operator key is what the server accepts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mcp_servers.composition import build_server
from mcp_servers.config import Settings, load_settings
from mcp_servers.platform.auth import CaasTokenVerifier
from mcp_servers.platform.serving import ShutdownGate, http_app
from mcp_servers.runtime import Runtime
from tests.helpers.common import JWT_ISSUER, SERVICE_KEY, free_port, serving
from tools.platform.principal import Principal, Role

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
JSONRPC = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize("advertised", [True, False], ids=["resource-metadata", "plain-verifier"])
async def test_a_refused_call_names_where_to_get_a_token_and_keeps_the_challenge(
    settings: Settings, runtime: Runtime, advertised: bool
) -> None:
    port = free_port()
    keys = {SERVICE_KEY: Principal("svc", Role.SERVICE)}
    server = build_server(
        runtime, api_keys=keys, resource_url=f"http://127.0.0.1:{port}/mcp" if advertised else None
    )
    app = http_app(server, settings, "127.0.0.1", ShutdownGate())
    async with serving(app, port) as url, httpx.AsyncClient(base_url=url) as http:
        missing = await http.post("/mcp", json=LIST, headers=JSONRPC)
        wrong = await http.post("/mcp", json=LIST, headers={**JSONRPC, "Authorization": "Bearer nope"})
        allowed = await http.post(
            "/mcp", json=LIST, headers={**JSONRPC, "Authorization": f"Bearer {SERVICE_KEY}"}
        )
        # The live updates answer a 401 of their own, in JSON: it too says whether a token came.
        live_missing = await http.get("/live/events")
        live_wrong = await http.get("/live/events", params={"access_token": "nope"})
    refusals = (
        (missing, "No bearer token was sent"),
        (wrong, "was not accepted"),
        (live_missing, "No bearer token was sent"),
        (live_wrong, "was not accepted"),
    )
    for refused, said in refusals:
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert refused.headers["content-type"] == "application/json"
        body = refused.json()
        assert body["error"] == "invalid_token"
        assert said in body["error_description"]
        assert (
            JWT_ISSUER in body["error_description"] and "Authorization: Bearer" in body["error_description"]
        )
        assert "re-register" not in body["error_description"]
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert allowed.status_code == 200  # an accepted token passes through untouched


def test_with_only_the_local_operator_key_the_hint_is_caas_token(tmp_path: Path) -> None:
    local = load_settings(data_dir=tmp_path)
    verifier = CaasTokenVerifier(local, {"caas_dev_" + "x" * 40: Principal("local-operator", Role.OPERATOR)})
    assert "`caas token`" in verifier.token_hint
    service_only = load_settings(data_dir=tmp_path, service_api_key=SERVICE_KEY, local_tokens=False)
    verifier = CaasTokenVerifier(service_only, {SERVICE_KEY: Principal("svc", Role.SERVICE)})
    assert "caas token" not in verifier.token_hint and "operator" in verifier.token_hint
    # With local tokens on (the embedded default), `caas token --role ...` answers beside the key.
    with_local = load_settings(data_dir=tmp_path, service_api_key=SERVICE_KEY)
    assert (
        "`caas token`"
        in CaasTokenVerifier(with_local, {SERVICE_KEY: Principal("svc", Role.SERVICE)}).token_hint
    )
