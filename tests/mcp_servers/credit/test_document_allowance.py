"""An application's document uploads are bounded (tools/credit/domain/documents.MAX_DOCUMENT_UPLOADS):
a caller cannot grow one application's uploads, documents and stored files without end."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.common import error_code
from tests.helpers.documents import (
    REGISTER,
    REQUEST,
    counts,
    new_application,
    register_args,
    request_upload,
    scan,
)
from tests.helpers.errors import error_message
from tools.credit.domain.documents import MAX_DOCUMENT_UPLOADS


def _args(app: dict[str, Any], data: bytes) -> dict[str, Any]:
    return {
        "application": app["reference"],
        "document_type": "bank_statement",
        "file_name": "statement.pdf",
        "media_type": "application/pdf",
        "size_bytes": len(data),
    }


async def _used(db: asyncpg.Connection, app: dict[str, Any]) -> int:
    sql = "SELECT document_uploads FROM caas_core.applications WHERE id = $1::uuid"
    return int(await db.fetchval(sql, app["id"]))


async def test_the_upload_past_the_allowance_is_refused_and_changes_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    data = scan()
    first = await request_upload(client, app, data)
    for _ in range(MAX_DOCUMENT_UPLOADS - 1):
        await request_upload(client, app, scan(), document_type="bank_statement")
    assert await _used(core_db, app) == MAX_DOCUMENT_UPLOADS
    before = await counts(core_db)
    app_dir = anyio.Path(runtime.settings.data_dir / "documents" / app["id"])
    dirs = [p async for p in app_dir.iterdir()]

    refused = await client.call_tool(REQUEST, _args(app, scan()), raise_on_error=False)
    assert error_code(refused) == "conflict"
    message = error_message(refused)
    assert f"{MAX_DOCUMENT_UPLOADS} document uploads" in message and app["reference"] in message
    assert "list_documents" in message
    assert await counts(core_db) == before
    assert await _used(core_db, app) == MAX_DOCUMENT_UPLOADS
    assert [p async for p in app_dir.iterdir()] == dirs  # no place made for a file that cannot come

    # What was uploaded under the allowance can still be registered.
    await anyio.Path(first["local_path"]).write_bytes(data)
    doc = await client.call_tool(REGISTER, register_args(first, data))
    assert doc.structured_content["status"] == "pending"


async def test_concurrent_requests_never_pass_the_allowance(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    # Two uploads left, as if the application had asked for the rest already.
    await core_db.execute(
        "UPDATE caas_core.applications SET document_uploads = $2 WHERE id = $1::uuid",
        app["id"],
        MAX_DOCUMENT_UPLOADS - 2,
    )
    results = await asyncio.gather(
        *(client.call_tool(REQUEST, _args(app, scan()), raise_on_error=False) for _ in range(8))
    )
    assert sorted(error_code(r) or "ok" for r in results) == ["conflict"] * 6 + ["ok"] * 2
    assert await _used(core_db, app) == MAX_DOCUMENT_UPLOADS
    stored = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.document_uploads WHERE application_id = $1::uuid", app["id"]
    )
    assert stored == 2


async def test_each_request_counts_and_the_tool_says_the_allowance(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    app = await new_application(client, principal)
    for n in (1, 2):
        await request_upload(client, app, scan())
        assert await _used(core_db, app) == n
    # A refused request (bad size) is not counted.
    bad = await client.call_tool(REQUEST, _args(app, scan()) | {"size_bytes": 10**12}, raise_on_error=False)
    assert error_code(bad) == "invalid_argument"
    assert await _used(core_db, app) == 2
    tool = next(t for t in await client.list_tools() if t.name == REQUEST)
    assert f"{MAX_DOCUMENT_UPLOADS} uploads in all" in (tool.description or "")
