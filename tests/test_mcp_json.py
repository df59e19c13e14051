"""mcp.json offers every server to MCP clients, over stdio and over HTTP on the server's own port; each
entry reaches the server it names (issue 11, item 9), and the MCP Inspector gets the HTTP entries
with a real token in place of ``${CAAS_TOKEN}``, which it does not expand."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from mcp_servers.composition import PLAN_PORTS, SERVICES
from mcp_servers.config import Settings, load_settings
from mcp_servers.laptop import http_entries, write_inspector_config
from mcp_servers.platform.auth import CaasTokenVerifier, PrincipalSource
from mcp_servers.platform.local_tokens import mint_local_token
from tests.helpers.common import caas_env, database_env
from tools.platform.principal import Principal, Role

ROOT = Path(__file__).resolve().parents[1]
CONFIG = json.loads((ROOT / "mcp.json").read_text())["mcpServers"]


def test_every_service_has_a_stdio_entry_and_an_http_entry_on_its_plan_port() -> None:
    for service in SERVICES:
        stdio, http = CONFIG[f"caas-{service}"], CONFIG[f"caas-{service}-http"]
        assert stdio["args"] == ["serve", "--stdio", "--service", service]
        assert http["url"] == f"http://127.0.0.1:{PLAN_PORTS[service]}/mcp"


def test_the_composed_server_is_offered_both_ways() -> None:
    assert CONFIG["caas"]["args"] == ["serve", "--stdio"]
    assert CONFIG["caas-http"]["url"] == f"http://127.0.0.1:{PLAN_PORTS['caas']}/mcp"


def test_no_two_servers_share_a_port_so_each_http_entry_reaches_the_server_it_names() -> None:
    # caas-credit-http once pointed at the composed server, which had the credit server's port.
    servers = ("caas", *SERVICES)
    assert len({PLAN_PORTS[s] for s in servers}) == len(servers)
    urls = [entry["url"] for name, entry in CONFIG.items() if name.endswith("-http")]
    assert len(set(urls)) == len(urls) == len(servers)


def test_the_inspector_file_is_mcp_json_with_the_token_filled_in(tmp_path: Path) -> None:
    assert http_entries(lambda _server: "${CAAS_TOKEN}") == {
        name: entry for name, entry in CONFIG.items() if name.endswith("-http")
    }
    path = write_inspector_config(tmp_path, lambda server: f"token-for-{server}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = json.loads(path.read_text())["mcpServers"]
    assert written["caas-payments-http"]["headers"] == {"Authorization": "Bearer token-for-payments"}
    assert "${" not in path.read_text()


async def test_the_inspector_file_carries_tokens_each_server_accepts(tmp_path: Path) -> None:
    # With an audience per server, each entry's token is minted for that server's audience.
    settings = load_settings(data_dir=tmp_path, jwt_audiences={"payments": "https://pay.example/mcp"})
    path = write_inspector_config(tmp_path, lambda s: mint_local_token(settings, Role.AGENT, server=s))
    written = json.loads(path.read_text())["mcpServers"]
    for name, server in (("caas-http", "caas"), ("caas-payments-http", "payments")):
        token = written[name]["headers"]["Authorization"].removeprefix("Bearer ")
        verified = await CaasTokenVerifier(settings, {}, server=server).verify_token(token)
        assert verified is not None, name
        assert PrincipalSource.from_claims(verified.claims) == Principal("local-agent", Role.AGENT)
    payments_token = written["caas-payments-http"]["headers"]["Authorization"].removeprefix("Bearer ")
    assert await CaasTokenVerifier(settings, {}, server="caas").verify_token(payments_token) is None


def expected_tools(entry: str) -> tuple[str, set[str]]:
    """The server an entry names and every tool that server can show (to any role)."""
    if entry == "caas":
        names = {
            f"{s}_{spec.fn.__name__}" for s, sets in SERVICES.items() for ts in sets for spec in ts.specs
        }
        return "caas", names
    service = entry.removeprefix("caas-")
    return entry, {spec.fn.__name__ for ts in SERVICES[service] for spec in ts.specs}


@pytest.mark.subprocess
@pytest.mark.parametrize("entry", [name for name in CONFIG if not name.endswith("-http")])
async def test_each_stdio_entry_as_written_starts_the_server_it_names(
    runtime: object, settings: Settings, tmp_path: Path, entry: str
) -> None:
    config = CONFIG[entry]
    command = ROOT / config["command"]  # written relative to the repository, as a client run there sees it
    assert command.exists(), f"{command} (install into .venv as the README says)"
    assert settings.database_url is not None and settings.supabase_db_url is not None
    env = caas_env(
        **database_env(settings),
        CAAS_DATA_DIR=str(tmp_path / "data"),
        CAAS_SANDBOX="true",  # simulated money on the test database, on purpose
        CAAS_REGISTRY="false",
        **config.get("env", {}),
    )
    transport = StdioTransport(
        command=str(command), args=config["args"], env=env, cwd=str(tmp_path), keep_alive=False
    )
    server, possible = expected_tools(entry)
    async with Client(transport, timeout=60, init_timeout=60) as client:
        assert client.server_info is not None
        assert client.server_info.name == server
        shown = {tool.name for tool in await client.list_tools()}
    assert shown, entry
    assert shown <= possible, shown - possible
