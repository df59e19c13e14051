"""Every role's default view of the composed server stays within what an agent can live in: at most 40
tools and 20,000 tokens of ``tools/list`` (bytes of its compact JSON / 4), measured through a real MCP
client on the server as ``caas serve`` builds it (no CAAS_TOOLSETS).

``pytest -s tests/mcp_servers/test_tool_budget.py`` prints the table: each role's default view and its
full list (every toolset).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastmcp import Client

from mcp_servers.composition import SERVICES, build_server
from mcp_servers.runtime import Runtime
from mcp_servers.toolsets import ALWAYS, ROLE_DEFAULTS, toolset_of
from tools.platform.principal import Role

MAX_TOOLS = 40
MAX_TOKENS = 20_000
PROVIDER_ID = "7f6c1d7e-9a52-4d0e-8f7a-0c3f5c2b9e11"


def tokens(tools: list[Any]) -> int:
    """The issue's measure: bytes of the compact ``tools/list`` result JSON, divided by 4."""
    body = {"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]}
    return len(json.dumps(body, separators=(",", ":")).encode()) // 4


async def listed(runtime: Runtime, principal: Any, role: Role) -> list[Any]:
    principal(f"budget-{role.value}", role, PROVIDER_ID if role is Role.PROVIDER else None)
    server = build_server(runtime)
    async with Client(server, mode="2026-07-28") as client:
        return list(await client.list_tools())


@pytest.fixture
def deployed(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``deployed(toolsets)``: the runtime's settings as a deployment with CAAS_TOOLSETS=toolsets."""

    def use(toolsets: str) -> None:
        monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"toolsets": toolsets}))

    return use


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_each_roles_default_view_is_within_40_tools_and_20000_tokens(
    runtime: Runtime, principal: Any, deployed: Any, role: Role
) -> None:
    deployed("")
    tools = await listed(runtime, principal, role)
    used = tokens(tools)
    assert tools, f"{role.value} is shown no tool by default"
    assert len(tools) <= MAX_TOOLS, f"{role.value} default view: {len(tools)} tools"
    assert used <= MAX_TOKENS, f"{role.value} default view: {used} tokens; choose smaller ROLE_DEFAULTS"
    for tool in tools:
        service, plain = tool.name.split("_", 1)
        assert service in SERVICES and toolset_of(plain) in (*ROLE_DEFAULTS[role], *ALWAYS), tool.name


async def test_budget_table(runtime: Runtime, principal: Any, deployed: Any) -> None:
    """The numbers for the record: default and full view per role. Fails only if a view is empty."""
    rows = []
    for role in Role:
        deployed("")
        default = await listed(runtime, principal, role)
        deployed("all")
        full = await listed(runtime, principal, role)
        assert default and len(full) >= len(default)
        rows.append(
            f"{role.value:9} default {','.join(ROLE_DEFAULTS[role]):32} {len(default):3} tools "
            f"{tokens(default):6} tokens | all {len(full):3} tools {tokens(full):6} tokens"
        )
    print("\n" + "\n".join(rows))  # noqa: T201 - the table this test exists to show with -s
