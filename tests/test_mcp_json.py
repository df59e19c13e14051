"""mcp.json offers every service to MCP clients, over stdio and over HTTP on the service's own port."""

from __future__ import annotations

import json
from pathlib import Path

from mcp_servers.composition import PLAN_PORTS, SERVICES

CONFIG = json.loads((Path(__file__).resolve().parents[1] / "mcp.json").read_text())["mcpServers"]


def test_every_service_has_a_stdio_entry_and_an_http_entry_on_its_plan_port() -> None:
    for service in SERVICES:
        stdio, http = CONFIG[f"caas-{service}"], CONFIG[f"caas-{service}-http"]
        assert stdio["args"] == ["serve", "--stdio", "--service", service]
        assert http["url"] == f"http://127.0.0.1:{PLAN_PORTS[service]}/mcp"


def test_the_composed_server_is_offered_both_ways() -> None:
    assert CONFIG["caas"]["args"] == ["serve", "--stdio"]
    assert CONFIG["caas-http"]["url"] == f"http://127.0.0.1:{PLAN_PORTS['caas']}/mcp"
