"""The real ``caas serve --stdio`` process: an MCP session over stdin/stdout, with stdout clean."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from mcp_servers.config import Settings
from tests.helpers.common import application, caas_command, caas_env, database_env, error_code
from tests.helpers.pgbouncer import core_env

SUBMIT = "credit_submit_application"
GET = "credit_get_application"
LIST = "credit_list_applications"


def stdio_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    assert settings.database_url is not None and settings.supabase_db_url is not None
    return caas_env(
        **database_env(settings),
        CAAS_DATA_DIR=str(data_dir),
        CAAS_STDIO_ROLE="operator",
        CAAS_SANDBOX="true",  # simulated money on the test database, on purpose
        CAAS_LOG_LEVEL="INFO",  # start-up logs on: they must all go to stderr
    )


@pytest.mark.subprocess
@pytest.mark.parametrize(("mode", "version"), [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28")])
async def test_operator_session_over_stdio_submits_gets_and_lists(
    runtime: object, settings: Settings, core_db: asyncpg.Connection, tmp_path: Path, mode: str, version: str
) -> None:
    command, *args = caas_command()
    stderr_log = tmp_path / "stderr.log"
    transport = StdioTransport(
        command=command,
        # An operator files on a borrower's behalf here: the apply toolset is not in its default view.
        args=[*args, "serve", "--stdio", "--toolsets", "apply"],
        env=stdio_env(settings, tmp_path / "data"),
        cwd=str(tmp_path),
        keep_alive=False,
        log_file=stderr_log,
    )
    borrower = f"b-{uuid.uuid4().hex[:12]}"
    async with Client(transport, mode=mode, timeout=60, init_timeout=60) as client:  # type: ignore[arg-type]
        assert client.protocol_version == version
        assert {SUBMIT, GET, LIST} <= {t.name for t in await client.list_tools()}
        missing = await client.call_tool(SUBMIT, {"application": application()}, raise_on_error=False)
        assert error_code(missing) == "invalid_argument"  # an operator must name the borrower
        app = (
            await client.call_tool(SUBMIT, {"application": application(borrower_id=borrower)})
        ).structured_content
        assert app["borrower_id"] == borrower
        assert app["created_by"] == "local-operator"
        got = (await client.call_tool(GET, {"application": app["id"]})).structured_content
        assert got["reference"] == app["reference"]
        page = (await client.call_tool(LIST, {"borrower_id": borrower})).structured_content
        assert [i["id"] for i in page["items"]] == [app["id"]]
    row = await core_db.fetchrow(
        "SELECT principal_id, principal_role FROM caas_audit.audit_log WHERE object_id = $1", app["id"]
    )
    assert (row["principal_id"], row["principal_role"]) == ("local-operator", "operator")


@pytest.mark.subprocess
async def test_first_stdout_line_answers_initialize_and_nothing_else_is_written(
    fresh_database: Any, tmp_path: Path
) -> None:
    # Fresh databases, so start-up has migrations to apply and logs them: all of it must reach stderr.
    env = caas_env(
        **core_env(await fresh_database()),
        SUPABASE_DB_URL=await fresh_database(),
        CAAS_DATA_DIR=str(tmp_path / "data"),
        CAAS_LOG_LEVEL="DEBUG",
        CAAS_SANDBOX="true",
    )
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "0"},
        },
    }
    proc = await asyncio.create_subprocess_exec(
        *caas_command(),
        "serve",
        "--stdio",
        env=env,
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(json.dumps(initialize).encode() + b"\n")
        await proc.stdin.drain()
        first = await asyncio.wait_for(proc.stdout.readline(), 60)
        proc.stdin.close()
        rest, stderr = await asyncio.wait_for(asyncio.gather(proc.stdout.read(), proc.stderr.read()), 30)
        returncode = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    message = json.loads(first)  # the very first byte on stdout starts the answer
    assert message["jsonrpc"] == "2.0"
    assert message["id"] == 1
    assert message["result"]["protocolVersion"] == "2025-11-25"
    assert message["result"]["serverInfo"]["name"] == "caas"
    assert rest == b"", rest[:500]
    log = stderr.decode(errors="replace")
    assert returncode == 0, log[-2000:]
    assert "applied core migrations" in log
