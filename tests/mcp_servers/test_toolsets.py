"""Toolsets: every tool in exactly one; a selection (deployment or connection) hides and refuses the
rest with a sentence naming the toolset to enable; read-only leaves the read-only tools; the role gate
still applies inside; a bad name is a one-line start-up error or a 400 naming the valid toolsets."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from mcp_servers.cli import main
from mcp_servers.composition import SERVICES, build_server
from mcp_servers.platform.serving import ShutdownGate, http_app
from mcp_servers.runtime import Runtime
from mcp_servers.toolsets import ALWAYS, META_TOOLS, ROLE_DEFAULTS, TOOLSETS, Selection, toolset_of
from tests.helpers.common import SERVICE_KEY, error_code, serving
from tests.helpers.errors import error_message
from tools.platform.principal import Principal, Role

JSONRPC_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def plain_names() -> list[str]:
    """Every tool's plain name but the two that choose toolsets (in none: they are dynamic mode's)."""
    every = [spec.fn.__name__ for sets in SERVICES.values() for toolset in sets for spec in toolset.specs]
    assert set(every) >= META_TOOLS
    return [name for name in every if name not in META_TOOLS]


def test_every_tool_is_in_exactly_one_toolset_and_every_listed_tool_exists() -> None:
    names = plain_names()
    assert len(names) == len(set(names)), "plain tool names must be unique: toolsets list them by it"
    listed = Counter(tool for toolset in TOOLSETS.values() for tool in toolset.tools)
    assert {n: c for n, c in listed.items() if c != 1} == {}
    assert sorted(set(names) - set(listed)) == [], "tools in no toolset"
    assert sorted(set(listed) - set(names)) == [], "toolsets name tools that do not exist"
    assert all(toolset.tools and toolset.purpose for toolset in TOOLSETS.values())
    assert all(set(defaults) <= set(TOOLSETS) for defaults in ROLE_DEFAULTS.values())
    assert set(ROLE_DEFAULTS) == set(Role)


async def names(runtime: Runtime, principal: Any, role: Role, selection: Selection) -> set[str]:
    principal(f"toolsets-{role.value}", role)
    async with Client(build_server(runtime, selection=selection), mode="2026-07-28") as client:
        return {t.name for t in await client.list_tools()}


async def test_a_chosen_toolset_is_all_a_role_sees_and_other_tools_are_refused_naming_their_toolset(
    runtime: Runtime, principal: Any
) -> None:
    ledger = Selection(frozenset({"ledger"}))
    seen = await names(runtime, principal, Role.OPERATOR, ledger)
    assert seen and ({toolset_of(n.split("_", 1)[1]) for n in seen} - ALWAYS) == {"ledger"}
    async with Client(build_server(runtime, selection=ledger), mode="2026-07-28") as client:
        # Refused before its arguments are read: the sentence says how to reach the tool.
        result = await client.call_tool("credit_list_review_queue", {}, raise_on_error=False)
    assert error_code(result) == "not_found"
    message = error_message(result)
    # The deployment's choice is also the most a connection may ask for, so the operator must add it.
    assert "'underwrite' toolset" in message and "add underwrite to CAAS_TOOLSETS" in message
    # The role gate still applies inside the selection: a borrower is shown no ledger tool, only the
    # confirmation every view carries.
    assert await names(runtime, principal, Role.BORROWER, ledger) == {
        "admin_confirm_action",
        "admin_list_pending_actions",
        "admin_decline_action",
    }
    principal("toolsets-borrower", Role.BORROWER)
    async with Client(build_server(runtime, selection=ledger), mode="2026-07-28") as client:
        result = await client.call_tool("admin_get_journal", {}, raise_on_error=False)
    assert error_code(result) == "permission_denied"


async def test_default_in_a_selection_means_the_roles_defaults(runtime: Runtime, principal: Any) -> None:
    defaults = await names(runtime, principal, Role.BORROWER, Selection())
    more = await names(runtime, principal, Role.BORROWER, Selection(frozenset({"default", "support"})))
    assert defaults < more
    assert ({toolset_of(n.split("_", 1)[1]) for n in more - defaults} - ALWAYS) == {"support"}


async def test_read_only_lists_only_read_only_tools_and_refuses_a_write(
    runtime: Runtime, principal: Any
) -> None:
    selection = Selection(None, read_only=True)
    principal("toolsets-operator", Role.OPERATOR)
    async with Client(build_server(runtime, selection=selection), mode="2026-07-28") as client:
        tools = await client.list_tools()
        result = await client.call_tool("credit_originate_loan", {}, raise_on_error=False)
    assert tools and all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert "credit_list_review_queue" in {t.name for t in tools}
    assert error_code(result) == "permission_denied"
    assert "read-only" in error_message(result)


async def test_a_single_service_server_shows_a_role_all_its_tools_by_default(
    runtime: Runtime, principal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"toolsets": ""}))
    principal("toolsets-borrower", Role.BORROWER)
    async with Client(build_server(runtime, "providers"), mode="2026-07-28") as client:
        single = {t.name for t in await client.list_tools()}
    async with Client(build_server(runtime), mode="2026-07-28") as client:
        composed = {t.name for t in await client.list_tools()}
    assert single == {"compare_offers", "accept_offer", "list_bids"}
    assert "providers_list_bids" not in composed and "providers_compare_offers" in composed


@pytest.fixture
async def mcp_url(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The composed server over HTTP as ``caas serve`` builds it, with no CAAS_TOOLSETS; the service
    key signs in as a service principal."""
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"toolsets": ""}))
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("toolsets-svc", Role.SERVICE)})
    async with serving(http_app(server, runtime.settings, "127.0.0.1", ShutdownGate())) as url:
        yield f"{url}/mcp"


async def http_names(url: str, headers: dict[str, str]) -> set[str]:
    transport = StreamableHttpTransport(url, headers=headers, auth=SERVICE_KEY)
    async with Client(transport, mode="2026-07-28") as client:
        return {t.name for t in await client.list_tools()}


async def test_the_connection_header_chooses_toolsets_and_read_only(mcp_url: str) -> None:
    default = await http_names(mcp_url, {})
    assert ({toolset_of(n.split("_", 1)[1]) for n in default} - ALWAYS) == set(ROLE_DEFAULTS[Role.SERVICE])
    loans = await http_names(mcp_url, {"X-CaaS-Toolsets": "loans"})
    assert loans and ({toolset_of(n.split("_", 1)[1]) for n in loans} - ALWAYS) == {"loans"}
    reading = await http_names(mcp_url, {"X-CaaS-Toolsets": "loans", "X-CaaS-Read-Only": "true"})
    assert reading < loans and "payments_collect_repayment" not in reading
    transport = StreamableHttpTransport(mcp_url, headers={"X-CaaS-Toolsets": "loans"}, auth=SERVICE_KEY)
    async with Client(transport, mode="legacy") as client:
        result = await client.call_tool("credit_age_loans", {}, raise_on_error=False)
    message = error_message(result)
    assert error_code(result) == "not_found" and "'service' toolset" in message
    assert "X-CaaS-Toolsets: default,service" in message


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-CaaS-Toolsets", "loans,bogus"), ("X-CaaS-Toolsets", "dynamo"), ("X-CaaS-Read-Only", "maybe")],
)
async def test_a_malformed_header_is_400_naming_the_valid_toolsets(
    mcp_url: str, header: str, value: str
) -> None:
    headers = {**JSONRPC_HEADERS, "Authorization": f"Bearer {SERVICE_KEY}", header: value}
    async with httpx.AsyncClient() as http:
        response = await http.post(mcp_url, json=LIST_TOOLS, headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    expected = "true or false" if header == "X-CaaS-Read-Only" else ", ".join(TOOLSETS)
    assert expected in error["message"]
    # Only MCP requests read the header: a probe sent with it (a proxy adding it to every request)
    # is answered as ever.
    async with httpx.AsyncClient() as http:
        probe = await http.get(mcp_url.removesuffix("/mcp") + "/health", headers={header: value})
    assert probe.status_code == 200, probe.text


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["serve", "--toolsets", "apply,nope"], {}, "--toolsets"),
        (["serve"], {"CAAS_TOOLSETS": "nope"}, "CAAS_TOOLSETS"),
    ],
)
def test_an_unknown_toolset_stops_start_up_with_one_line(
    argv: list[str], env: dict[str, str], named: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"caas: configuration error: {named}: 'nope' is no toolset"
    )
    assert ", ".join(TOOLSETS) in err
