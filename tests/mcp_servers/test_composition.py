"""Server composition: namespaced tools in the composed server, plain names in one service, quiet start."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from typing import Any

import pytest
from fastmcp import Client

from mcp_servers.composition import SERVICES, build_server
from mcp_servers.runtime import Runtime
from tests.helpers.common import application
from tools.platform.principal import Role


async def test_single_service_server_exposes_plain_tool_names(runtime: Runtime, principal: Any) -> None:
    principal("op-1", Role.OPERATOR)
    async with Client(build_server(runtime, "credit")) as c:
        names = {t.name for t in await c.list_tools()}
        assert {"submit_application", "get_application", "list_applications"} <= names
        assert not any("_" in n and n.split("_")[0] == "credit" for n in names)
        app = (await c.call_tool("submit_application", {"application": application(borrower_id="b-1")})).data
        assert app.reference.startswith("CAAS-")


async def test_composed_server_namespaces_by_service(client: Client, principal: Any) -> None:
    principal("op-1", Role.OPERATOR)
    names = {t.name for t in await client.list_tools()}
    assert names and all(n.startswith(tuple(f"{s}_" for s in SERVICES)) for n in names)
    assert {n.split("_")[0] for n in names} == set(SERVICES)


@pytest.mark.subprocess
def test_importing_the_servers_turns_off_banner_and_update_check() -> None:
    # A fresh interpreter without FASTMCP_* variables: only our package can have switched them off.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTMCP_")}
    probe = (
        "import mcp_servers.composition; from fastmcp import settings; "
        "print(settings.show_server_banner, settings.check_for_updates)"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "off"]


async def test_tool_input_schemas_are_looked_up_without_listing_every_tool(runtime: Runtime) -> None:
    # The MCP SDK falls back to a full tools/list per 2026-07-28 call when this hook is unset, and uses
    # the schema only to check Mcp-Param-* headers against its x-mcp-header annotations.
    from mcp.server.lowlevel.server import Server
    from mcp.shared.inbound import find_invalid_x_mcp_header, validate_mcp_param_headers, x_mcp_header_map

    assert "get_tool_input_schema" in inspect.signature(Server.__init__).parameters
    server = build_server(runtime)
    lookup = server._mcp_server.get_tool_input_schema
    assert lookup is not None
    tools = await server.list_tools(run_middleware=False)
    assert len(tools) > 50
    for tool in tools:
        schema = tool.parameters
        assert "$ref" not in str(schema)
        if x_mcp_header_map(schema) and find_invalid_x_mcp_header(schema) is None:
            assert lookup(tool.name) == schema
        else:
            # A schema without a valid annotation rejects no header: the SDK need not walk it.
            assert validate_mcp_param_headers(schema, {"x": 1}, {"mcp-param-x": "2"}) is None
            assert lookup(tool.name) is None
    assert lookup("credit_no_such_tool") is None
    assert build_server(runtime, "credit")._mcp_server.get_tool_input_schema is not None


async def test_the_risk_model_has_one_address_alone_or_composed(runtime: Runtime) -> None:
    from tools.risk.domain.scorecard import MODEL_VERSION

    for service in (None, "risk"):
        async with Client(build_server(runtime, service)) as c:
            contents = await c.read_resource("caas://risk/model")
            assert MODEL_VERSION in contents[0].text


def test_every_tool_set_is_carried_by_exactly_one_server() -> None:
    # A module's tools exist only once a server carries its ToolSet: one left out of SERVICES would
    # silently never be served, and one listed twice would be served under two names.
    import importlib
    import pkgutil

    import mcp_servers
    from mcp_servers.composition import SERVICES
    from mcp_servers.toolkit import ToolSet

    declared = []
    for info in pkgutil.walk_packages(mcp_servers.__path__, "mcp_servers."):
        module = importlib.import_module(info.name)
        declared += [v for v in vars(module).values() if isinstance(v, ToolSet)]
    carried = [toolset for toolsets in SERVICES.values() for toolset in toolsets]
    assert len(declared) >= 14 and all(t.specs for t in declared)
    assert sorted(map(id, carried)) == sorted(map(id, set(declared)))


def test_the_composed_server_has_one_provider_which_tool_lookups_ask_directly(runtime: Runtime) -> None:
    # mcp_servers.platform.tool_lookup: a second provider (a mounted server) would bring back
    # FastMCP's task group per lookup.
    server = build_server(runtime)
    assert server.providers == [server.local_provider]
    assert "_get_tool" in vars(server)


@pytest.mark.parametrize("service", [None, *SERVICES])
async def test_every_listed_schema_is_self_contained_without_fastmcps_dereferencing_pass(
    runtime: Runtime, service: str | None
) -> None:
    # Some MCP clients (VS Code's) cannot follow $ref: every schema a client is sent must be inline. The
    # servers inline them when a tool is made and turn FastMCP's per-listing pass off.
    server = build_server(runtime, service)  # type: ignore[arg-type]
    tools = await server.list_tools(run_middleware=False)
    templates = await server.list_resource_templates(run_middleware=False)
    schemas = (
        [t.parameters for t in tools] + [t.output_schema for t in tools] + [t.parameters for t in templates]
    )
    inlined = [s for s in schemas if s is not None and ("$ref" in str(s) or "$defs" in s)]
    assert tools and inlined == []
