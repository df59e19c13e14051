"""One request id per request: the caller's X-Request-ID when usable, kept in the audit row of what the
request changed, webhooks included. The whole path through ``caas serve`` is in test_logs.py."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client
from mcp.shared.exceptions import MCPError

from mcp_servers.composition import build_server
from mcp_servers.config import load_settings
from mcp_servers.platform.logs import ContextFilter
from mcp_servers.platform.request_context import request_id_of, usable_request_id
from mcp_servers.runtime import Runtime
from tests.helpers.bidding import market
from tests.helpers.payments import platform_over_http, post
from tools.marketplace.providers import provider_signing_secret
from tools.platform.domain.signatures import caas_signature


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123", True), ("a" * 128, True), ("a" * 129, False), ("has space", False), ("nul\x00", False)],
)
def test_only_a_printable_bounded_request_id_is_kept_as_sent(sent: str, kept: bool) -> None:
    assert (usable_request_id(sent) == sent) is kept
    chosen = request_id_of({"x-request-id": sent})
    assert (chosen == sent) is kept
    assert usable_request_id(chosen) == chosen  # a new one when the caller's is not usable


async def test_a_signed_webhooks_audit_row_keeps_the_callers_request_id(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, country: str
) -> None:
    app, (provider_id,) = await market(client, principal, country, lenders=1)
    event = {
        "id": f"evt-{uuid.uuid4()}",
        "type": "application.decision",
        "data": {"decision": "decline", "application_id": app["id"], "reason": "outside our appetite"},
    }
    body = json.dumps(event).encode()
    secret = await provider_signing_secret(runtime.deps.marketplace, uuid.UUID(provider_id))
    timestamp = int(time.time())
    sent = f"hook-{uuid.uuid4()}"
    headers = {
        "X-CaaS-Signature": caas_signature(body, secret, timestamp),
        "X-CaaS-Timestamp": str(timestamp),
        "X-Request-ID": sent,
    }
    async with platform_over_http(runtime) as base_url:
        answer = await post(f"{base_url}/webhooks/providers/{provider_id}", body, headers)
    assert (answer.status_code, answer.json()["outcome"]) == (200, "applied")
    kept = await core_db.fetchval(
        "SELECT request_id FROM caas_audit.audit_log WHERE provider_id = $1 AND object_type = $2",
        provider_id,
        "provider_invitation",
    )
    assert kept == sent


async def test_a_resource_that_fails_unexpectedly_answers_internal_quoting_the_logged_request_id(
    fresh_database: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    core = await fresh_database()
    settings = load_settings(database_url=core, supabase_db_url=await fresh_database(), data_dir=tmp_path)
    server = build_server(Runtime(settings))
    caplog.handler.addFilter(ContextFilter())
    caplog.set_level(logging.INFO)
    async with Client(server) as client:
        conn = await asyncpg.connect(core)
        try:
            await conn.execute("ALTER TABLE caas_core.loans RENAME TO loans_gone")  # a fault nothing expects
        finally:
            await conn.close()
        with pytest.raises(MCPError) as caught:
            await client.read_resource(f"caas://loans/{uuid.uuid4()}/schedule")
    message = str(caught.value)
    assert message.startswith("internal: ") and "loans_gone" not in message
    quoted = re.search(r"\(request ([0-9a-f]{32})\)", message)
    assert quoted is not None, message
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.request_id == quoted.group(1)  # type: ignore[attr-defined]
    assert "UndefinedTableError" in failure.getMessage()
    (line,) = [r for r in caplog.records if r.name == "caas.calls"]
    assert (line.request_id, line.outcome) == (quoted.group(1), "internal")  # type: ignore[attr-defined]
