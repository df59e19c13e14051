"""What every role is shown, on the composed server and on each single-service server, is what
``docs/tools.json`` says: names in order, every definition byte for byte, resources and templates.

A change to any tool's name, schema, description, annotations or roles fails here until the golden file
is regenerated (``python -m mcp_servers.catalog``) and the diff is reviewed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastmcp import Client

from mcp_servers.catalog import GOLDEN, listed_on, server_names, tool_definition
from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from tools.platform.principal import Role

GOLDEN_DATA: dict[str, Any] = json.loads(GOLDEN.read_text())
PROVIDER_ID = "7f6c1d7e-9a52-4d0e-8f7a-0c3f5c2b9e11"


def _dump(item: Any) -> dict[str, Any]:
    body: dict[str, Any] = item.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"], ids=["modern", "legacy"])
@pytest.mark.parametrize("service", server_names(), ids=lambda s: s or "composed")
async def test_each_role_is_shown_the_tools_and_resources_of_the_golden_file(
    runtime: Runtime, principal: Any, service: str | None, mode: str
) -> None:
    server = build_server(runtime, service)
    expected = GOLDEN_DATA["servers"][server.name]
    prefix = "" if service is None else f"{service}_"
    for role in Role:
        principal(f"catalog-{role.value}", role, PROVIDER_ID if role is Role.PROVIDER else None)
        async with Client(server, mode=mode) as client:
            tools = await client.list_tools()
            resources = await client.list_resources()
            templates = await client.list_resource_templates()
        assert [t.name for t in tools] == expected["roles"][role.value], role
        for tool in tools:
            golden = listed_on(GOLDEN_DATA["tools"][prefix + tool.name], service)
            assert tool_definition(tool) == golden, tool.name
        assert [_dump(r) for r in resources] == expected["resources"]
        assert [_dump(t) for t in templates] == expected["resource_templates"]
