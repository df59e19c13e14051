"""Local tokens (issue 11, item 9): ``caas token --role`` signs a JWT with a key in the data directory,
accepted beside a configured issuer's, under the same rules, and refused where local tokens are off."""

from __future__ import annotations

import json
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from mcp_servers.composition import SERVICES
from mcp_servers.config import ConfigError, Settings, load_settings
from mcp_servers.platform.auth import CaasTokenVerifier, PrincipalSource
from mcp_servers.platform.local_tokens import LOCAL_ISSUER, local_key, mint_local_token
from tests.helpers.common import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, make_jwt
from tests.mcp_servers.test_cli import caas, one_line
from tools.platform.principal import Principal, Role

DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def laptop(tmp_path: Path, **extra: Any) -> Settings:
    """The embedded default: no database URL, so local tokens are on unless said otherwise."""
    return load_settings(data_dir=tmp_path, **extra)


async def principal_of(settings: Settings, token: str) -> Principal | None:
    verified = await CaasTokenVerifier(settings, {}).verify_token(token)
    return None if verified is None else PrincipalSource.from_claims(verified.claims)


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_gets_a_token_the_server_accepts_as_that_role(tmp_path: Path, role: Role) -> None:
    settings = laptop(tmp_path)
    provider = "p-1" if role is Role.PROVIDER else None
    token = mint_local_token(settings, role, subject=f"me-{role.value}", provider_id=provider)
    assert await principal_of(settings, token) == Principal(f"me-{role.value}", role, provider)


async def test_local_tokens_are_accepted_beside_a_configured_issuers_jwts(tmp_path: Path) -> None:
    settings = laptop(tmp_path, jwt_secret=JWT_SECRET, jwt_issuer=JWT_ISSUER, jwt_audience=JWT_AUDIENCE)
    local = mint_local_token(settings, Role.AGENT, subject="an-agent")
    assert await principal_of(settings, local) == Principal("an-agent", Role.AGENT)
    issued = make_jwt("u-1", role="operator")
    assert await principal_of(settings, issued) == Principal("u-1", Role.OPERATOR)


async def test_off_by_default_on_a_configured_database_and_then_refused_by_the_server(tmp_path: Path) -> None:
    on = laptop(tmp_path)
    token = mint_local_token(on, Role.ADMIN)
    off = load_settings(data_dir=tmp_path, database_url=DSN, supabase_db_url=DSN)
    assert not off.local_tokens_enabled
    with pytest.raises(ConfigError, match="CAAS_LOCAL_TOKENS"):
        mint_local_token(off, Role.ADMIN)
    assert await principal_of(off, token) is None
    assert load_settings(
        data_dir=tmp_path, database_url=DSN, supabase_db_url=DSN, local_tokens=True
    ).local_tokens_enabled
    assert not laptop(tmp_path, local_tokens=False).local_tokens_enabled


def test_the_key_is_private_generated_once_and_kept(tmp_path: Path) -> None:
    first = local_key(tmp_path / "data")
    assert stat.S_IMODE((tmp_path / "data" / "local-token-key").stat().st_mode) == 0o600
    assert local_key(tmp_path / "data") == first
    assert len(first) >= 32


def test_first_uses_at_once_all_get_the_one_whole_key_and_leave_no_temporary_file(tmp_path: Path) -> None:
    # Processes started together (the server's children, `caas token`) each make the key on first use;
    # none may read the file before its key is written, nor sign with a key that was not kept.
    for attempt in range(20):
        data = tmp_path / f"data{attempt}"
        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = list(pool.map(local_key, [data] * 8))
        assert len(set(keys)) == 1 and len(keys[0]) >= 32
        assert (data / "local-token-key").read_text().strip() == keys[0]
        assert [p.name for p in data.iterdir()] == ["local-token-key"]


def test_an_empty_key_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "local-token-key").write_text("\n")
    with pytest.raises(ConfigError, match="is empty; remove it"):
        local_key(tmp_path)


def signed(settings: Settings, **claims: Any) -> str:
    """A token with the local key and whatever claims a test chooses (None drops a claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": LOCAL_ISSUER,
        "aud": settings.audience_for("caas"),
        "sub": "someone",
        "iat": now,
        "exp": now + 600,
        "caas_role": "operator",
    }
    body = {k: v for k, v in {**base, **claims}.items() if v is not None}
    return jwt.encode({"alg": "HS256"}, body, OctKey.import_key(local_key(settings.data_dir)))


BROKEN = {
    "expired": {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
    "no exp": {"exp": None},
    "no sub": {"sub": None},
    "lives 25 hours": {"exp": int(time.time()) + 25 * 3600},
    "another audience": {"aud": "someone-else"},
    "another issuer": {"iss": "not-caas-local"},
    "unknown role": {"caas_role": "root"},
}


@pytest.mark.parametrize("claims", BROKEN.values(), ids=BROKEN.keys())
async def test_local_tokens_obey_the_jwt_rules(tmp_path: Path, claims: dict[str, Any]) -> None:
    settings = laptop(tmp_path)
    assert await principal_of(settings, signed(settings)) is not None  # the control: the key is right
    assert await principal_of(settings, signed(settings, **claims)) is None


async def test_a_token_signed_with_another_key_is_refused(tmp_path: Path) -> None:
    other = mint_local_token(laptop(tmp_path / "elsewhere"), Role.ADMIN)
    assert await principal_of(laptop(tmp_path / "here"), other) is None


def test_bad_requests_are_refused_with_a_sentence(tmp_path: Path) -> None:
    settings = laptop(tmp_path)
    with pytest.raises(ConfigError, match="--provider-id"):
        mint_local_token(settings, Role.PROVIDER)
    with pytest.raises(ConfigError, match="CAAS_JWT_MAX_LIFETIME_S"):
        mint_local_token(settings, Role.BORROWER, ttl_s=2 * 86400)
    with pytest.raises(ConfigError, match="--subject"):
        mint_local_token(settings, Role.BORROWER, subject="two words")


@pytest.mark.subprocess
async def test_caas_token_prints_a_role_token_and_keeps_the_operator_key_without_options(
    tmp_path: Path,
) -> None:
    code, out, err = await caas(
        "token", "--role", "borrower", "--subject", "ada", "--ttl", "30m", cwd=tmp_path
    )
    assert (code, err) == (0, "")
    settings = laptop(tmp_path / "data")
    assert await principal_of(settings, out.strip()) == Principal("ada", Role.BORROWER)
    code, out, err = await caas("token", cwd=tmp_path)
    assert (code, err) == (0, "")
    assert out.startswith("caas_dev_")
    assert out.strip() == (tmp_path / "data" / "dev-token").read_text().strip()


@pytest.mark.subprocess
async def test_caas_token_role_is_refused_in_one_line_where_local_tokens_are_off(tmp_path: Path) -> None:
    code, out, err = await caas("token", "--role", "admin", cwd=tmp_path, CAAS_LOCAL_TOKENS="false")
    assert (code, out) == (2, "")
    assert "CAAS_LOCAL_TOKENS" in one_line(err)
    code, out, err = await caas("token", "--role", "admin", "--ttl", "forever", cwd=tmp_path)
    assert (code, out) == (2, "")
    assert "--ttl" in one_line(err)


@pytest.mark.subprocess
async def test_caas_token_inspector_config_writes_every_http_entry_with_a_token_it_prints_the_path_of(
    tmp_path: Path,
) -> None:
    code, out, err = await caas("token", "--role", "agent", "--inspector-config", cwd=tmp_path)
    assert (code, err) == (0, "")
    path = Path(out.strip())
    assert path == tmp_path / "data" / "inspector-mcp.json"
    entries = json.loads(await anyio.Path(path).read_text())["mcpServers"]
    assert len(entries) == 1 + len(SERVICES)  # the composed server and each service
    token = entries["caas-http"]["headers"]["Authorization"].removeprefix("Bearer ")
    assert await principal_of(laptop(tmp_path / "data"), token) == Principal("local-agent", Role.AGENT)


@pytest.mark.subprocess
async def test_caas_token_inspector_config_points_at_the_port_caas_serve_was_given(tmp_path: Path) -> None:
    code, out, err = await caas("token", "--inspector-config", "--port", "4321", cwd=tmp_path)
    assert (code, err) == (0, "")
    entries = json.loads(await anyio.Path(out.strip()).read_text())["mcpServers"]
    assert entries["caas-http"]["url"] == "http://127.0.0.1:4321/mcp"
    assert entries["caas-risk-http"]["url"] == "http://127.0.0.1:3005/mcp"
    code, out, err = await caas(
        "token",
        "--role",
        "operator",
        "--service",
        "risk",
        "--inspector-config",
        cwd=tmp_path,
        CAAS_PORT="4322",
    )
    assert (code, err) == (0, "")
    entries = json.loads(await anyio.Path(out.strip()).read_text())["mcpServers"]
    assert entries["caas-risk-http"]["url"] == "http://127.0.0.1:4322/mcp"
    assert entries["caas-http"]["url"] == "http://127.0.0.1:3013/mcp"
