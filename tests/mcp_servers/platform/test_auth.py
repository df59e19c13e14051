"""Bearer identity: JWTs verified by HS256 secret or a JWKS URL, the service API key, and role mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastmcp.server.auth.providers.jwt import RSAKeyPair
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcp_servers.config import load_settings
from mcp_servers.platform import auth
from mcp_servers.platform.auth import CaasTokenVerifier, PrincipalSource
from tests.helpers.common import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, SERVICE_KEY, make_jwt, serving
from tools.platform.principal import Principal, Role


def _settings(tmp_path: Path, **extra: Any) -> Any:
    return load_settings(data_dir=tmp_path, jwt_issuer=JWT_ISSUER, jwt_audience=JWT_AUDIENCE, **extra)


def _principal(token: Any) -> Principal:
    return PrincipalSource.from_claims(token.claims)


@pytest.fixture
def hs256(tmp_path: Path) -> CaasTokenVerifier:
    service = Principal("onasis-mcp", Role.SERVICE)
    return CaasTokenVerifier(_settings(tmp_path, jwt_secret=JWT_SECRET), {SERVICE_KEY: service})


async def test_supabase_user_token_is_a_borrower(hs256: CaasTokenVerifier) -> None:
    token = await hs256.verify_token(make_jwt("8d0fbd5e-7d8a-4d0e-9d8a-1b2c3d4e5f60"))
    assert token is not None
    assert _principal(token) == Principal("8d0fbd5e-7d8a-4d0e-9d8a-1b2c3d4e5f60", Role.BORROWER)


async def test_role_and_provider_come_from_app_metadata(hs256: CaasTokenVerifier) -> None:
    token = await hs256.verify_token(
        make_jwt("u-9", role="provider", provider_id="prov-7", scope="bids:write")
    )
    assert token is not None
    assert _principal(token) == Principal("u-9", Role.PROVIDER, "prov-7", frozenset({"bids:write"}))


_HS256 = b'{"alg":"HS256","typ":"JWT"}'


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_jwt(header: bytes, payload: bytes, *, sign: bool = True) -> str:
    """A JWT of exactly these header and payload bytes, signed with the test secret (or not at all)."""
    head = f"{_b64(header)}.{_b64(payload)}"
    mac = hmac.new(JWT_SECRET.encode(), head.encode(), hashlib.sha256).digest() if sign else b"x"
    return f"{head}.{_b64(mac)}"


def _claims(exp: bytes) -> bytes:
    fixed = f'"sub":"u-1","iss":"{JWT_ISSUER}","aud":"{JWT_AUDIENCE}","iat":{int(time.time())}'
    return b"{" + fixed.encode() + b',"exp":' + exp + b"}"


def _nested_payload(depth: int) -> bytes:
    return _claims(str(int(time.time()) + 60).encode())[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: make_jwt("u-1", exp=int(time.time()) - 60), id="expired"),
        pytest.param(lambda: make_jwt("u-1", aud="someone-else"), id="wrong audience"),
        pytest.param(lambda: make_jwt("u-1", iss="https://evil.example"), id="wrong issuer"),
        pytest.param(lambda: make_jwt("u-1", role="wizard"), id="unknown role"),
        pytest.param(lambda: make_jwt("", role="agent"), id="empty subject"),
        pytest.param(
            lambda: jwt.encode(
                {"sub": "u-1", "aud": JWT_AUDIENCE, "iss": JWT_ISSUER, "exp": int(time.time()) + 60},
                "another-secret-of-at-least-32-chars!!",
                algorithm="HS256",
            ),
            id="wrong secret",
        ),
        pytest.param(lambda: SERVICE_KEY[:-1], id="service key prefix"),
        pytest.param(lambda: "not-a-token", id="garbage"),
        # Each of these made every route a 500 (a probe's find): the verifier's JSON decoding raised
        # past it. The first needs no secret at all.
        pytest.param(
            lambda: _raw_jwt(b"[" * 1000 + b"]" * 1000, b'{"sub":"x"}', sign=False), id="nested header"
        ),
        pytest.param(lambda: _raw_jwt(_HS256, _nested_payload(3000)), id="nested payload, signed"),
        pytest.param(lambda: _raw_jwt(_HS256, _claims(b"1e400")), id="exp 1e400, signed"),
        pytest.param(lambda: make_jwt("u-1", pad="x" * 20_000), id="over 16 kB"),
    ],
)
async def test_tokens_that_must_be_refused(hs256: CaasTokenVerifier, token: Any) -> None:
    assert await hs256.verify_token(token()) is None


async def test_service_api_key_is_the_service_principal(hs256: CaasTokenVerifier) -> None:
    token = await hs256.verify_token(SERVICE_KEY)
    assert token is not None
    assert _principal(token) == Principal("onasis-mcp", Role.SERVICE)


@pytest.fixture
async def jwks_server() -> AsyncIterator[tuple[str, RSAKeyPair, list[int]]]:
    """A real HTTP JWKS endpoint on loopback, standing in for the identity provider's."""
    keys = RSAKeyPair.generate()
    public = serialization.load_pem_public_key(keys.public_key.encode())
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    jwk.update({"kid": "key-1", "use": "sig", "alg": "RS256"})
    hits: list[int] = []

    async def jwks(_: Request) -> JSONResponse:
        hits.append(1)
        return JSONResponse({"keys": [jwk]})

    app = Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    async with serving(app) as url:
        yield f"{url}/.well-known/jwks.json", keys, hits


async def test_jwks_tokens_verify_and_keys_are_fetched_on_first_use(
    tmp_path: Path, jwks_server: tuple[str, RSAKeyPair, list[int]]
) -> None:
    url, keys, hits = jwks_server
    verifier = CaasTokenVerifier(_settings(tmp_path, jwt_jwks_url=url), {})
    assert hits == []  # nothing fetched at start-up
    token = keys.create_token(
        subject="agent-42",
        issuer=JWT_ISSUER,
        audience=JWT_AUDIENCE,
        additional_claims={"app_metadata": {"caas_role": "agent"}},
        kid="key-1",
    )
    verified = await verifier.verify_token(token)
    assert verified is not None
    assert _principal(verified) == Principal("agent-42", Role.AGENT)
    assert len(hits) >= 1
    forged = RSAKeyPair.generate().create_token(
        subject="agent-42", issuer=JWT_ISSUER, audience=JWT_AUDIENCE, kid="key-1"
    )
    assert await verifier.verify_token(forged) is None


async def test_each_requests_token_is_its_own_caller_however_often_a_call_asks(
    hs256: CaasTokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = PrincipalSource(Principal("local", Role.OPERATOR))
    agent = await hs256.verify_token(make_jwt("agent-1", role="agent"))
    borrower = await hs256.verify_token(make_jwt("borrower-1"))
    again = await hs256.verify_token(make_jwt("agent-1", role="agent"))
    seen: list[Principal] = []
    for token in (agent, agent, borrower, agent, again, None):
        monkeypatch.setattr("mcp_servers.platform.auth.get_access_token", lambda t=token: t)
        seen.append(source.current())
    assert [(p.subject, p.role) for p in seen] == [
        ("agent-1", Role.AGENT),
        ("agent-1", Role.AGENT),
        ("borrower-1", Role.BORROWER),
        ("agent-1", Role.AGENT),
        ("agent-1", Role.AGENT),
        ("local", Role.OPERATOR),
    ]
    assert seen[1] is seen[0]  # asked again within one request: not rebuilt


class Counted:
    """The JWT library's verification, counted: what the verified-token cache spares."""

    def __init__(self, verifier: CaasTokenVerifier, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        inner = verifier._jwt
        assert inner is not None
        real = inner.verify_token

        async def counted(token: str) -> Any:
            self.calls += 1
            return await real(token)

        monkeypatch.setattr(inner, "verify_token", counted)


async def test_a_verified_token_is_not_verified_again_until_it_expires(
    hs256: CaasTokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = Counted(hs256, monkeypatch)
    exp = int(time.time()) + 30
    token = make_jwt("u-1", role="agent", exp=exp)
    first, again = await hs256.verify_token(token), await hs256.verify_token(token)
    assert first is not None and again is not None and library.calls == 1
    assert _principal(again) == Principal("u-1", Role.AGENT)
    # Past its exp the token is verified again, and refused, by every clock that reads time.time.
    monkeypatch.setattr(time, "time", lambda: exp + 1.0)
    assert await hs256.verify_token(token) is None
    assert library.calls == 2


async def test_a_kept_token_is_verified_again_after_the_cap_and_refusals_are_never_kept(
    hs256: CaasTokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = Counted(hs256, monkeypatch)
    token, now = make_jwt("u-1", role="agent"), time.time()  # exp 600 s ahead
    assert await hs256.verify_token(token) is not None
    monkeypatch.setattr(time, "time", lambda: now + auth.VERIFIED_TTL_S + 1)
    assert await hs256.verify_token(token) is not None
    assert library.calls == 2
    refused = make_jwt("u-1", aud="someone-else")
    assert await hs256.verify_token(refused) is None and await hs256.verify_token(refused) is None
    assert library.calls == 4


async def test_the_kept_tokens_are_bounded_least_recently_used_out(
    hs256: CaasTokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "VERIFIED_MAX", 2)
    library = Counted(hs256, monkeypatch)
    a, b, c = (make_jwt(f"u-{n}", role="agent") for n in range(3))
    for token in (a, b, a, c):  # c pushes out b, used less recently than a
        assert await hs256.verify_token(token) is not None
    assert library.calls == 3
    assert await hs256.verify_token(a) is not None and library.calls == 3
    assert await hs256.verify_token(b) is not None and library.calls == 4
