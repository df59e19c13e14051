"""The tool surface as clients see it, written down: ``docs/tools.json`` (the golden file) and
``docs/tools.md`` (the reference generated from it and from the code).

``python -m mcp_servers.catalog`` rewrites both; ``--check`` fails when either is stale. The golden file
holds every tool's definition once (as the composed server lists it) and, for the composed server and
each single-service server, which tools and resources each role is shown. A test lists the tools
through real MCP clients and compares them with it, so a change to any name, schema, description or
annotation shows up as a diff of this file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from fastmcp import FastMCP

from mcp_servers.composition import SERVICES, build_server, tool_names
from mcp_servers.config import load_settings
from mcp_servers.runtime import Runtime
from mcp_servers.tool_docs import render_markdown
from mcp_servers.toolkit import ROLES_META
from mcp_servers.toolsets import META, toolset_of
from tools.platform.principal import Role

__all__ = ["GOLDEN", "REFERENCE", "catalog", "generate", "listed_on", "server_names", "tool_definition"]

DOCS = Path(__file__).resolve().parents[1] / "docs"
GOLDEN = DOCS / "tools.json"
REFERENCE = DOCS / "tools.md"


def server_names() -> list[str | None]:
    """None is the composed server; the others are the single-service servers."""
    return [None, *SERVICES]


def tool_definition(tool: Any) -> dict[str, Any]:
    """An ``mcp_types.Tool`` as it travels in ``tools/list``, without its name."""
    body: dict[str, Any] = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    body.pop("name")
    return body


def listed_on(definition: dict[str, Any], service: str | None) -> dict[str, Any]:
    """A composed definition as the server of ``service`` lists it: the same but for the tool names
    its texts mention, which each server writes as it exposes them."""
    rendered: dict[str, Any] = tool_names(service).render_schema(definition)
    return rendered


def _dump(component: Any) -> dict[str, Any]:
    body: dict[str, Any] = component.model_dump(mode="json", by_alias=True, exclude_none=True)
    return body


async def _surface(server: FastMCP) -> tuple[dict[str, dict[str, Any]], list[Any], list[Any]]:
    """Tools in listing order, and the resources and resource templates as clients get them."""
    tools = {t.name: t.to_mcp_tool() for t in await server.list_tools(run_middleware=False)}
    resources = [_dump(r.to_mcp_resource()) for r in await server.list_resources()]
    templates = [_dump(t.to_mcp_template()) for t in await server.list_resource_templates()]
    return {name: tool_definition(t) for name, t in tools.items()}, resources, templates


def _plain(name: str, service: str | None) -> str:
    return name.split("_", 1)[1] if service is None else name


def _roles(body: dict[str, Any]) -> list[str]:
    return list(body.get("_meta", {}).get(ROLES_META, ()))


async def catalog(runtime: Runtime) -> dict[str, Any]:
    """Every tool's definition (keyed by its composed name) and what each role sees on each server, in
    the order ``tools/list`` gives it."""
    definitions: dict[str, dict[str, Any]] = {}
    servers: dict[str, Any] = {}
    for service in server_names():
        server = build_server(runtime, service)
        tools, resources, templates = await _surface(server)
        prefix = "" if service is None else f"{service}_"
        views: dict[str, list[str]] = {}
        # list_toolsets and enable_toolset are shown on dynamic connections only (mcp_servers.toolsets).
        shown = {n: b for n, b in tools.items() if toolset_of(_plain(n, service)) != META}
        for role in Role:
            views[role.value] = [name for name, body in shown.items() if role.value in _roles(body)]
        for name, body in tools.items():
            composed = prefix + name
            if service is None:
                definitions[composed] = body
            elif listed_on(definitions.get(composed, {}), service) != body:
                raise ValueError(f"{server.name} lists {name} unlike the composed server's {composed}")
        servers[server.name] = {"roles": views, "resources": resources, "resource_templates": templates}
    return {"servers": servers, "tools": dict(sorted(definitions.items()))}


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


async def _build() -> dict[str, Any]:
    # Listing needs no database: the runtime is never started.
    runtime = Runtime(load_settings(data_dir=Path("/nonexistent-caas-catalog")))
    return await catalog(runtime)


def generate() -> dict[Path, str]:
    """What each generated file must hold now: the golden file and the reference built from it."""
    data = asyncio.run(_build())
    return {GOLDEN: render_json(data), REFERENCE: render_markdown(data)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcp_servers.catalog", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="fail when docs/tools.json or docs/tools.md is stale"
    )
    args = parser.parse_args(argv)
    files = generate()
    if args.check:
        stale = [
            path
            for path, text in files.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            sys.stderr.write(f"{path} is stale: run python -m mcp_servers.catalog\n")
        return 1 if stale else 0
    DOCS.mkdir(exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
