"""Descriptions are Markdown (issue 11, item 11): clients render them so, and reStructuredText's
double backticks show literally. Every description every server shape serves is checked: tools (and
each description inside their input and output schemas), resources, templates and prompts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mcp_servers.catalog import server_names
from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from mcp_servers.tool_schemas import markdown


def descriptions(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """(where, text) of every ``description`` string in a served definition."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "description" and isinstance(item, str):
                yield where, item
            else:
                yield from descriptions(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from descriptions(item, f"{where}[{index}]")


async def test_no_served_description_uses_restructuredtext_literals(runtime: Runtime) -> None:
    found = []
    for service in server_names():
        server = build_server(runtime, service)
        served: list[tuple[str, Any]] = []
        served += [(t.name, t.to_mcp_tool()) for t in await server.list_tools(run_middleware=False)]
        served += [(str(r.uri), r.to_mcp_resource()) for r in await server.list_resources()]
        served += [(t.uri_template, t.to_mcp_template()) for t in await server.list_resource_templates()]
        served += [(p.name, p.to_mcp_prompt()) for p in await server.list_prompts(run_middleware=False)]
        for name, definition in served:
            body = definition.model_dump(mode="json", by_alias=True, exclude_none=True)
            found += [f"{service or 'caas'}:{w}" for w, text in descriptions(body, name) if "``" in text]
    assert found == []


def test_markdown_rewrites_descriptions_only() -> None:
    schema = {
        "description": "Pass ``next_cursor``.",
        "properties": {"description": {"description": "a ``field`` named description", "default": "``x``"}},
        "examples": ["``kept``"],
    }
    assert markdown(schema) == {
        "description": "Pass `next_cursor`.",
        "properties": {"description": {"description": "a `field` named description", "default": "``x``"}},
        "examples": ["``kept``"],
    }
