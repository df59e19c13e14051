"""JWT rules beyond the signature (issue 10, item 4): ``exp`` and ``sub`` required, a bounded lifetime,
``nbf``/``iat`` honoured with a small leeway, an audience per server, and OAuth 2.0 Protected Resource
Metadata (RFC 9728) with ``resource_metadata`` in the 401 challenge."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from mcp_servers.composition import SERVICES, build_server
from mcp_servers.config import SERVER_NAMES, ConfigError, Settings, load_settings
from mcp_servers.platform.auth import CaasTokenVerifier
from mcp_servers.platform.serving import ShutdownGate, http_app
from mcp_servers.runtime import Runtime
from tests.helpers.common import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, free_port, make_jwt, serving
from tools.platform.principal import Principal, Role


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return load_settings(
        data_dir=tmp_path, jwt_secret=JWT_SECRET, jwt_issuer=JWT_ISSUER, jwt_audience=JWT_AUDIENCE, **extra
    )


def without(claim: str) -> str:
    claims = jwt.decode(make_jwt("u-1"), options={"verify_signature": False})
    del claims[claim]
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


REFUSED = {
    "no exp": lambda: without("exp"),
    "no sub": lambda: without("sub"),
    "not valid yet (nbf in 5 min)": lambda: make_jwt("u-1", nbf=int(time.time()) + 300),
    "issued in 5 min (iat)": lambda: make_jwt("u-1", iat=int(time.time()) + 300),
    "lives 25 hours": lambda: make_jwt("u-1", iat=int(time.time()), exp=int(time.time()) + 25 * 3600),
    "no iat, expires in 25 hours": lambda: jwt.encode(
        {
            **jwt.decode(without("iat"), options={"verify_signature": False}),
            "exp": int(time.time()) + 25 * 3600,
        },
        JWT_SECRET,
        algorithm="HS256",
    ),
    "nbf not a number": lambda: make_jwt("u-1", nbf="soon"),
    # A trusted issuer's claims are still input: what the platform would store must be storable.
    "NUL in sub": lambda: make_jwt("u-\x001"),
    "control in sub": lambda: make_jwt("u-\x851"),
    "space in sub": lambda: make_jwt("u 1"),
    "sub of 201 characters": lambda: make_jwt("u" * 201),
    "NUL in provider_id": lambda: make_jwt("u-1", role="provider", provider_id="p-\x001"),
    "lone surrogate in sub": lambda: jwt.encode(
        {**jwt.decode(make_jwt("u-1"), options={"verify_signature": False}), "sub": "u-\ud800"},
        JWT_SECRET,
        algorithm="HS256",
    ),
}


@pytest.mark.parametrize("make_token", REFUSED.values(), ids=REFUSED.keys())
async def test_a_token_breaking_a_time_or_subject_rule_is_refused(tmp_path: Path, make_token: Any) -> None:
    assert await CaasTokenVerifier(_settings(tmp_path), {}).verify_token(make_token()) is None


ACCEPTED = {
    "nbf 10 s ahead (clock skew)": lambda: make_jwt("u-1", nbf=int(time.time()) + 10),
    "iat 10 s ahead (clock skew)": lambda: make_jwt("u-1", iat=int(time.time()) + 10),
    "lives exactly 24 hours": lambda: make_jwt("u-1", iat=int(time.time()), exp=int(time.time()) + 86400),
}


@pytest.mark.parametrize("make_token", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_a_token_within_the_leeway_and_lifetime_is_accepted(tmp_path: Path, make_token: Any) -> None:
    token = await CaasTokenVerifier(_settings(tmp_path), {}).verify_token(make_token())
    assert token is not None and token.subject == "u-1"


async def test_the_maximum_lifetime_is_configurable(tmp_path: Path) -> None:
    verifier = CaasTokenVerifier(_settings(tmp_path, jwt_max_lifetime_s=3600), {})
    two_hours = make_jwt("u-1", iat=int(time.time()), exp=int(time.time()) + 7200)
    assert await verifier.verify_token(two_hours) is None
    assert await verifier.verify_token(make_jwt("u-1")) is not None  # ten minutes


async def test_a_token_for_one_server_is_refused_by_another_configured_apart(tmp_path: Path) -> None:
    settings = _settings(tmp_path, jwt_audiences={"payments": "https://pay.example/mcp"})
    rt = Runtime(settings)  # never started: authentication needs no database
    payments = build_server(rt, "payments", api_keys={}).auth
    credit = build_server(rt, "credit", api_keys={}).auth
    composed = build_server(rt, api_keys={}).auth
    assert payments is not None and credit is not None and composed is not None
    for_payments = make_jwt("u-1", aud="https://pay.example/mcp")
    for_the_rest = make_jwt("u-1")
    assert await payments.verify_token(for_payments) is not None
    assert await payments.verify_token(for_the_rest) is None
    assert await credit.verify_token(for_payments) is None
    assert await credit.verify_token(for_the_rest) is not None
    assert await composed.verify_token(for_payments) is None


def test_an_audience_for_an_unknown_server_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CAAS_JWT_AUDIENCES: unknown server 'paymnets'"):
        _settings(tmp_path, jwt_audiences={"paymnets": "x"})


@pytest.fixture
async def resource_server(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    keys = {"k" * 32: Principal("svc", Role.SERVICE)}
    server = build_server(runtime, api_keys=keys, resource_url=resource)
    async with serving(http_app(server, settings, "127.0.0.1", ShutdownGate()), port) as url:
        yield url


async def test_with_an_issuer_the_401_points_at_protected_resource_metadata_naming_it(
    resource_server: str,
) -> None:
    async with httpx.AsyncClient(base_url=resource_server) as http:
        refused = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        assert challenge.startswith("Bearer")
        assert f'resource_metadata="{resource_server}/.well-known/oauth-protected-resource/mcp"' in challenge
        for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
            metadata = await http.get(path)
            assert metadata.status_code == 200, path
            body = metadata.json()
            assert body["resource"] == f"{resource_server}/mcp"
            assert body["authorization_servers"] == [JWT_ISSUER]
            assert body["bearer_methods_supported"] == ["header"]


async def test_without_an_issuer_no_metadata_is_served(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, jwt_secret=JWT_SECRET)
    server = build_server(Runtime(settings), api_keys={}, resource_url="http://127.0.0.1:1/mcp")
    assert isinstance(server.auth, CaasTokenVerifier)


def test_every_server_can_be_given_an_audience() -> None:
    assert set(SERVER_NAMES) == {"caas", *SERVICES}
