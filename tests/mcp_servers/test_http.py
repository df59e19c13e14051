"""The composed server over Streamable HTTP: bearer auth, both protocol eras, and the ops routes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from fastmcp import Client
from prometheus_client.parser import text_string_to_metric_families

from mcp_servers.composition import build_server, package_version
from mcp_servers.config import load_settings
from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY, application, dsn_proxy, error_code, make_jwt, serving
from tools.platform.principal import Principal, Role

SUBMIT = "credit_submit_application"
GET = "credit_get_application"
LIST = "credit_list_applications"
# The credit tools a provider may call: reads of the loans it made and of its own commission.
PROVIDER_READS = {
    "credit_get_loan",
    "credit_get_repayment_schedule",
    "credit_quote_early_settlement",
    "credit_quote_prepayment",
    "credit_list_loans",
    "credit_get_commission_statement",
}
JSONRPC_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    async with serving(server.http_app(path="/mcp", stateless_http=True)) as url:
        yield url


@pytest.fixture
def mcp_url(base_url: str) -> str:
    return f"{base_url}/mcp"


def user() -> str:
    return f"user-{uuid.uuid4()}"


async def app_count(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM caas_core.applications"))


def submit_request() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": SUBMIT, "arguments": {"application": application(borrower_id="victim")}},
    }


def resigned(token: str, secret: str) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, secret, algorithm="HS256")


BAD_TOKENS = {
    "garbage": lambda: "not-a-token",
    "expired": lambda: make_jwt(user(), exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "wrong audience": lambda: make_jwt(user(), aud="someone-else"),
    "wrong issuer": lambda: make_jwt(user(), iss="https://evil.example/auth/v1"),
    "wrong secret": lambda: resigned(make_jwt(user()), "another-secret-that-is-also-long-enough"),
    "unsigned": lambda: jwt.encode(
        jwt.decode(make_jwt(user()), options={"verify_signature": False}), "", "none"
    ),
    "unknown caas role": lambda: make_jwt(user(), role="superuser"),
    "no subject": lambda: make_jwt("", role="operator"),
    "near-miss service key": lambda: SERVICE_KEY[:-1] + "X",
}


async def test_request_without_token_is_401_with_bearer_challenge_and_stores_nothing(
    mcp_url: str, core_db: asyncpg.Connection
) -> None:
    before = await app_count(core_db)
    async with httpx.AsyncClient() as http:
        response = await http.post(mcp_url, json=submit_request(), headers=JSONRPC_HEADERS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await app_count(core_db) == before


@pytest.mark.parametrize("make_token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_invalid_bearer_token_is_401_and_stores_nothing(
    mcp_url: str, core_db: asyncpg.Connection, make_token: Any
) -> None:
    before = await app_count(core_db)
    headers = {**JSONRPC_HEADERS, "Authorization": f"Bearer {make_token()}"}
    async with httpx.AsyncClient() as http:
        response = await http.post(mcp_url, json=submit_request(), headers=headers)
    assert response.status_code == 401
    assert await app_count(core_db) == before


@pytest.mark.parametrize(("mode", "version"), [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28")])
async def test_borrower_jwt_submits_gets_and_lists_its_application(
    mcp_url: str, core_db: asyncpg.Connection, mode: str, version: str
) -> None:
    me = user()
    async with Client(mcp_url, auth=make_jwt(me), mode=mode) as client:  # type: ignore[arg-type]
        assert client.protocol_version == version
        names = {t.name for t in await client.list_tools()}
        assert {SUBMIT, GET, LIST} <= names
        assert "credit_expire_stale_applications" not in names  # staff only
        app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
        assert app["borrower_id"] == me
        got = (await client.call_tool(GET, {"application": app["reference"]})).structured_content
        assert got["id"] == app["id"]
        page = (await client.call_tool(LIST, {})).structured_content
        assert [i["id"] for i in page["items"]] == [app["id"]]
    audit = await core_db.fetchrow(
        "SELECT principal_id, principal_role FROM caas_audit.audit_log WHERE object_id = $1", app["id"]
    )
    assert (audit["principal_id"], audit["principal_role"]) == (me, "borrower")


async def test_second_borrower_cannot_read_or_list_the_first_ones_application(mcp_url: str) -> None:
    async with Client(mcp_url, auth=make_jwt(user())) as first:
        app = (await first.call_tool(SUBMIT, {"application": application()})).structured_content
    async with Client(mcp_url, auth=make_jwt(user())) as second:
        for handle in (app["id"], app["reference"]):
            result = await second.call_tool(GET, {"application": handle}, raise_on_error=False)
            assert error_code(result) == "not_found"
        page = (await second.call_tool(LIST, {"limit": 100})).structured_content
        assert page["items"] == []


async def test_provider_jwt_sees_only_loan_reads_and_is_refused_applications(
    mcp_url: str, core_db: asyncpg.Connection
) -> None:
    before = await app_count(core_db)
    async with Client(mcp_url, auth=make_jwt(user(), role="provider", provider_id="p1")) as client:
        assert {t.name for t in await client.list_tools() if t.name.startswith("credit_")} == PROVIDER_READS
        for name, args in ((SUBMIT, {"application": application(borrower_id="x")}), (LIST, {})):
            result = await client.call_tool(name, args, raise_on_error=False)
            assert error_code(result) == "permission_denied"
    assert await app_count(core_db) == before


async def test_service_api_key_acts_as_service_and_lists_every_borrowers_applications(mcp_url: str) -> None:
    made = []
    for _ in range(2):
        async with Client(mcp_url, auth=make_jwt(user())) as borrower:
            made.append((await borrower.call_tool(SUBMIT, {"application": application()})).structured_content)
    async with Client(mcp_url, auth=SERVICE_KEY) as service:
        assert {SUBMIT, GET, LIST, "credit_expire_stale_applications"} <= {
            t.name for t in await service.list_tools()
        }
        page = (await service.call_tool(LIST, {"limit": 100})).structured_content
    listed = {i["id"] for i in page["items"]}
    assert {a["id"] for a in made} <= listed
    assert len({i["borrower_id"] for i in page["items"]}) >= 2


async def test_health_needs_no_token_and_reports_both_databases(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "caas"
    assert body["version"] == package_version()
    assert isinstance(body["uptime_s"], int | float) and body["uptime_s"] >= 0
    assert body["dependencies"]["neon"]["status"] == "up"
    assert body["dependencies"]["supabase_db"]["status"] == "up"
    assert body["simulated"] is True  # the in-process sandbox: no money moves


async def test_ready_is_200_once_the_runtime_is_started(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/ready")
    assert response.status_code == 200
    assert response.json()["ready"] is True


def _calls(metrics_text: str, tool: str) -> float:
    """Successful calls of ``tool`` counted by the latency histogram."""
    wanted = {"tool": tool, "outcome": "ok"}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "caas_tool_call_seconds_count" and sample.labels == wanted:
                return sample.value
    return 0.0


async def test_metrics_count_a_tool_call_made_over_http(base_url: str, mcp_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        before = _calls((await http.get("/metrics")).text, LIST)
        async with Client(mcp_url, auth=SERVICE_KEY) as client:
            await client.call_tool(LIST, {"limit": 1})
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert "caas_tool_call_seconds" in response.text
    assert _calls(response.text, LIST) == before + 1


async def test_before_the_runtime_starts_ready_is_503_and_health_is_200_with_details(settings: Any) -> None:
    idle = build_server(Runtime(settings))  # never started: no pools
    transport = httpx.ASGITransport(app=idle.http_app(path="/mcp"))
    async with httpx.AsyncClient(transport=transport, base_url="http://caas.test") as http:
        ready = await http.get("/ready")
        health = await http.get("/health")
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
    assert health.status_code == 200  # liveness: the process answers
    assert health.json()["status"] == "degraded"
    assert health.json()["dependencies"]["neon"]["status"] == "down"


async def wait_for(http: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    started = time.monotonic()
    while (response := await http.get(path)).status_code != status:
        assert time.monotonic() - started < 5, f"{path} not {status} within 5 s"
        await asyncio.sleep(0.1)
    return response


async def test_ready_goes_503_when_the_database_is_cut_or_a_migration_is_pending_while_health_stays_200(
    fresh_database: Any, tmp_path: Path
) -> None:
    core, supabase = await fresh_database(), await fresh_database()
    async with dsn_proxy(core) as (core_proxy, core_dsn), dsn_proxy(supabase) as (_, supabase_dsn):
        settings = load_settings(
            database_url=core_dsn, supabase_db_url=supabase_dsn, data_dir=tmp_path, pool_max_size=4
        )
        server = build_server(Runtime(settings))  # its lifespan starts and migrates through the proxies
        async with (
            serving(server.http_app(path="/mcp", stateless_http=True)) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            assert (await http.get("/ready")).status_code == 200
            db = await asyncpg.connect(supabase)
            try:
                last = await db.fetchrow(
                    "DELETE FROM caas_meta.schema_migrations WHERE target = 'supabase' AND version = "
                    "(SELECT max(version) FROM caas_meta.schema_migrations WHERE target = 'supabase') "
                    "RETURNING *"
                )
                pending = (await wait_for(http, "/ready", 503)).json()["dependencies"]["supabase_db"]
                assert pending == {"status": "down", "error": "migrations pending", "pending": [last["name"]]}
                await db.execute(
                    "INSERT INTO caas_meta.schema_migrations SELECT ($1::caas_meta.schema_migrations).*", last
                )
            finally:
                await db.close()
            await wait_for(http, "/ready", 200)
            await core_proxy.cut()
            body = (await wait_for(http, "/ready", 503)).json()
            assert body["status"] == "unavailable"
            assert body["dependencies"]["neon"]["status"] == "down"
            assert body["dependencies"]["supabase_db"]["status"] == "up"
            health = await http.get("/health")
            assert health.status_code == 200
            assert health.json()["status"] == "degraded"
            assert health.json()["dependencies"]["neon"]["status"] == "down"
