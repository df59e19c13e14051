"""The official MCP TypeScript SDK as a client (issue 11, item 11): what MCP Inspector is built on.

The SDK validates a result's ``structuredContent`` against the tool's ``outputSchema`` and throws
when it does not match; an error result used to carry ``{"error": ...}`` there, so the SDK (and the
Inspector) answered "Structured content does not match the tool's output schema" instead of our
message. The SDK is installed from tests/mcp_servers/typescript_client/package-lock.json.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY, application, make_jwt, serving
from tests.helpers.errors import error_of
from tests.helpers.npm_clients import npm_installed
from tools.platform.principal import Principal, Role

CLIENT_DIR = Path(__file__).with_name("typescript_client")
SDK = "@modelcontextprotocol/sdk"


@pytest.fixture(scope="module")
def typescript_client() -> Path:
    """The SDK at the version package.json pins, installed once with ``npm ci`` and then reused."""
    npm_installed(CLIENT_DIR, SDK)
    return CLIENT_DIR / "call_tools.mjs"


@pytest.fixture(scope="module")
async def mcp_url(runtime: Runtime) -> AsyncIterator[str]:
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    async with serving(server.http_app(path="/mcp", stateless_http=True)) as url:
        yield f"{url}/mcp"


async def run_client(script: Path, url: str, token: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spec = json.dumps({"url": url, "token": token, "calls": calls})
    proc = await asyncio.create_subprocess_exec(
        "node", str(script), spec, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    answers: list[dict[str, Any]] = json.loads(out)
    return answers


async def test_the_typescript_sdk_reads_results_and_every_error_message(
    typescript_client: Path, mcp_url: str
) -> None:
    token = make_jwt(f"b-{uuid.uuid4().hex[:10]}", role="borrower")
    calls = [
        {"name": "credit_submit_application", "arguments": {"application": application()}},
        {"name": "credit_get_application", "arguments": {"application": "CAAS-1999-000001"}},
        {"name": "credit_get_application", "arguments": {"application": ""}},
        {"name": "credit_expire_stale_applications", "arguments": {}},
    ]
    filed, missing, empty, forbidden = await run_client(typescript_client, mcp_url, token, calls)
    for answer in (filed, missing, empty, forbidden):
        assert "thrown" not in answer, answer  # the SDK accepted the result against the output schema
    assert filed["result"]["structuredContent"]["status"] == "submitted"
    assert not filed["result"].get("isError")
    for answer, code in (
        (missing, "not_found"),
        (empty, "invalid_argument"),
        (forbidden, "permission_denied"),
    ):
        error = error_of(answer["result"])
        assert error is not None and error["code"] == code, answer
        assert "structuredContent" not in answer["result"]
