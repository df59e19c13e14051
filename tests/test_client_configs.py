"""`.mcp.json` (Claude Code) and `.vscode/mcp.json` (VS Code) beside mcp.json (issue 11, item 10):
each parses, each entry is named after the server it reaches, and each stdio entry starts that
server through a real MCP client."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from mcp_servers.composition import PLAN_PORTS
from mcp_servers.config import Settings
from tests.helpers.common import REPO_ROOT, caas_command, caas_env, database_env

CLAUDE_CODE = REPO_ROOT / ".mcp.json"
VS_CODE = REPO_ROOT / ".vscode" / "mcp.json"
_CLAUDE_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")
_VS_CODE_VARIABLE = re.compile(r"\$\{(workspaceFolder|input:[\w-]+|env:[A-Z_][A-Z0-9_]*)\}")


def claude_code_entries() -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = json.loads(CLAUDE_CODE.read_text())["mcpServers"]
    return entries


def vs_code_entries() -> dict[str, dict[str, Any]]:
    document = json.loads(VS_CODE.read_text())
    inputs = {i["id"] for i in document.get("inputs", [])}
    for entry in document["servers"].values():
        for name in re.findall(r"\$\{input:([\w-]+)\}", json.dumps(entry)):
            assert name in inputs, f"no input {name!r} declared"
        for variable in re.findall(r"\$\{[^}]*\}", json.dumps(entry)):
            assert _VS_CODE_VARIABLE.fullmatch(variable), f"VS Code does not expand {variable}"
    entries: dict[str, dict[str, Any]] = document["servers"]
    return entries


def expand_claude_code(value: str) -> str:
    """Claude Code's expansion in .mcp.json: ``${VAR}`` and ``${VAR:-default}``."""
    return _CLAUDE_VARIABLE.sub(lambda m: os.environ.get(m[1], m[2] or ""), value)


def expand_vs_code(value: str) -> str:
    return value.replace("${workspaceFolder}", str(REPO_ROOT))


CONFIGS = {
    "claude-code": (claude_code_entries, expand_claude_code),
    "vs-code": (vs_code_entries, expand_vs_code),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_each_http_entry_points_at_the_server_it_is_named_after(config: str) -> None:
    entries, _ = CONFIGS[config]
    http = {name: e for name, e in entries().items() if e["type"] == "http"}
    assert http, config
    for name, entry in http.items():
        base = name.removesuffix("-http")
        server = "caas" if base == "caas" else base.removeprefix("caas-")
        assert entry["url"] == f"http://127.0.0.1:{PLAN_PORTS[server]}/mcp", name
        assert entry["headers"]["Authorization"].startswith("Bearer ${"), (
            "a token from a variable, never inline"
        )


@pytest.mark.subprocess
@pytest.mark.parametrize("config", CONFIGS)
async def test_each_stdio_entry_starts_the_server_it_is_named_after(
    config: str, settings: Settings, tmp_path: Path
) -> None:
    entries, expand = CONFIGS[config]
    stdio = {name: e for name, e in entries().items() if e["type"] == "stdio"}
    assert stdio, config
    assert settings.database_url is not None and settings.supabase_db_url is not None
    for name, entry in stdio.items():
        command = Path(expand(entry["command"]))
        # The documented install (.venv at the repository root); the test runs the same console
        # script from the interpreter running the tests, wherever its virtual environment is.
        assert (REPO_ROOT / command).resolve() == (REPO_ROOT / ".venv" / "bin" / "caas").resolve(), name
        env = {k: expand(v) for k, v in entry.get("env", {}).items()}
        transport = StdioTransport(
            command=caas_command()[0],
            args=[*caas_command()[1:], *entry["args"]],
            env=caas_env(
                **env,
                **database_env(settings),
                CAAS_DATA_DIR=str(tmp_path / "data"),
                CAAS_SANDBOX="true",
            ),
            cwd=str(tmp_path),
            keep_alive=False,
            log_file=tmp_path / f"{name}.log",
        )
        async with Client(transport, timeout=60, init_timeout=60) as client:
            assert client.server_info is not None and client.server_info.name == name
            # The stdio caller is the local operator, shown its default toolsets (underwrite among them).
            assert "credit_list_review_queue" in {t.name for t in await client.list_tools()}
