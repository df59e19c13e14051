"""Dynamic toolsets (issue 11): a dynamic connection lists only list_toolsets and enable_toolset (and the
always-shown confirmations); enabling a toolset adds its tools (the role's, the read-only ones on a
read-only connection) for the session and sends notifications/tools/list_changed. A connection without a
session is told to name its toolsets in X-CaaS-Toolsets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import mcp_types
import pytest
from fastmcp import Client
from fastmcp.client.messages import MessageHandler
from fastmcp.client.transports import StreamableHttpTransport
from mcp_types import ResourceTemplateReference

from mcp_servers.cli import main
from mcp_servers.composition import SERVICES, build_server
from mcp_servers.platform.serving import ShutdownGate, http_app
from mcp_servers.runtime import Runtime
from mcp_servers.toolsets import ALWAYS, TOOLSETS, Selection, toolset_of
from tests.helpers.common import SERVICE_KEY, serving
from tests.helpers.errors import error_of
from tools.platform.principal import Principal, Role

LIST, ENABLE = "admin_list_toolsets", "admin_enable_toolset"
DYNAMIC = Selection(frozenset({"dynamic"}))
FIRST = {LIST, ENABLE, "admin_confirm_action", "admin_list_pending_actions", "admin_decline_action"}


class Changes(MessageHandler):
    """Counts the notifications/tools/list_changed the client receives."""

    def __init__(self) -> None:
        self.tool_lists = 0

    async def on_tool_list_changed(self, message: mcp_types.ToolListChangedNotification) -> None:
        self.tool_lists += 1


def callable_by(role: Role, toolset: str, read_only: bool = False) -> set[str]:
    """The composed names of ``toolset``'s tools ``role`` may call, read from the tool declarations."""
    return {
        f"{server}_{spec.fn.__name__}"
        for server, sets in SERVICES.items()
        for tool_set in sets
        for spec in tool_set.specs
        if toolset_of(spec.fn.__name__) == toolset
        and role in spec.roles
        and (spec.read_only or not read_only)
    }


async def names(client: Client) -> set[str]:
    return {t.name for t in await client.list_tools()}


async def failure(client: Client, tool: str, args: dict[str, Any]) -> tuple[str, str]:
    error = error_of(await client.call_tool(tool, args, raise_on_error=False))
    assert error is not None
    return error["code"], error["message"]


async def test_enabling_a_toolset_adds_its_tools_for_the_session_and_says_the_list_changed(
    runtime: Runtime, principal: Any
) -> None:
    principal("dynamic-op", Role.OPERATOR)
    changes = Changes()
    server = build_server(runtime, selection=DYNAMIC)
    async with Client(server, mode="legacy", message_handler=changes) as client:
        assert client.initialize_result is not None
        tools_capability = client.initialize_result.capabilities.tools
        assert tools_capability is not None and tools_capability.list_changed is True
        assert await names(client) == FIRST
        listed = (await client.call_tool(LIST, {})).structured_content
        assert listed["dynamic"] is True
        by_name = {t["name"]: t for t in listed["toolsets"]}
        assert list(by_name) == list(TOOLSETS)
        assert by_name["ledger"]["purpose"] == TOOLSETS["ledger"].purpose
        assert by_name["ledger"]["tools"] == len(callable_by(Role.OPERATOR, "ledger")) > 0
        assert {n for n, t in by_name.items() if t["enabled"]} == set(ALWAYS)
        # Not enabled yet: refused, saying how to enable it.
        code, message = await failure(client, sorted(callable_by(Role.OPERATOR, "ledger"))[0], {})
        assert code == "not_found" and "call admin_enable_toolset with toolset 'ledger'" in message

        done = (await client.call_tool(ENABLE, {"toolset": "ledger"})).structured_content
        assert done["changed"] is True and set(done["tools"]) == callable_by(Role.OPERATOR, "ledger")
        assert changes.tool_lists == 1
        assert await names(client) == FIRST | callable_by(Role.OPERATOR, "ledger")
        again = (await client.call_tool(ENABLE, {"toolset": "ledger"})).structured_content
        assert again["changed"] is False and again["enabled"] == ["ledger"]
        assert changes.tool_lists == 1
        listed = (await client.call_tool(LIST, {})).structured_content
        assert {t["name"] for t in listed["toolsets"] if t["enabled"]} == {"ledger", *ALWAYS}
    # Another session starts afresh.
    async with Client(server, mode="legacy") as other:
        assert await names(other) == FIRST


async def test_an_unknown_toolset_is_refused_with_the_valid_names(runtime: Runtime, principal: Any) -> None:
    principal("dynamic-op", Role.OPERATOR)
    async with Client(build_server(runtime, selection=DYNAMIC), mode="legacy") as client:
        code, message = await failure(client, ENABLE, {"toolset": "ledgr"})
        assert code == "invalid_argument" and "'ledgr' is no toolset" in message
        assert ", ".join(TOOLSETS) in message
        code, _ = await failure(client, ENABLE, {"toolset": "ledger", "extra": True})
        assert code == "invalid_argument"
        assert await names(client) == FIRST


async def test_a_role_without_a_tool_in_the_toolset_is_told_which_toolsets_have_some(
    runtime: Runtime, principal: Any
) -> None:
    assert callable_by(Role.BORROWER, "ledger") == set()
    principal("dynamic-borrower", Role.BORROWER)
    changes = Changes()
    async with Client(
        build_server(runtime, selection=DYNAMIC), mode="legacy", message_handler=changes
    ) as client:
        listed = (await client.call_tool(LIST, {})).structured_content["toolsets"]
        assert next(t for t in listed if t["name"] == "ledger")["tools"] == 0
        code, message = await failure(client, ENABLE, {"toolset": "ledger"})
        assert code == "permission_denied" and "borrower" in message and "apply" in message
        assert changes.tool_lists == 0 and await names(client) == FIRST
        # The role filter applies inside an enabled toolset: a borrower gains only its support tools.
        await client.call_tool(ENABLE, {"toolset": "support"})
        assert await names(client) == FIRST | callable_by(Role.BORROWER, "support")
        every = set().union(*(callable_by(role, "support") for role in Role))
        assert callable_by(Role.BORROWER, "support") < every


async def test_a_read_only_dynamic_connection_gains_only_read_only_tools(
    runtime: Runtime, principal: Any
) -> None:
    principal("dynamic-op", Role.OPERATOR)
    selection = Selection(frozenset({"dynamic"}), read_only=True)
    async with Client(build_server(runtime, selection=selection), mode="legacy") as client:
        assert {LIST, ENABLE} <= await names(client)
        done = (await client.call_tool(ENABLE, {"toolset": "loans"})).structured_content
        reading = callable_by(Role.OPERATOR, "loans", read_only=True)
        assert set(done["tools"]) == reading and reading < callable_by(Role.OPERATOR, "loans")
        assert (await names(client)) & callable_by(Role.OPERATOR, "loans") == reading


async def test_a_2026_connection_has_no_session_and_is_told_to_send_the_header(
    runtime: Runtime, principal: Any
) -> None:
    principal("dynamic-op", Role.OPERATOR)
    async with Client(build_server(runtime, selection=DYNAMIC), mode="2026-07-28") as client:
        assert await names(client) == FIRST
        code, message = await failure(client, ENABLE, {"toolset": "ledger"})
    assert code == "session_required" and "X-CaaS-Toolsets: dynamic,ledger" in message


@pytest.fixture
async def http_url(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """``serve(sessions)``: the composed server over Streamable HTTP, with or without sessions."""

    def use(sessions: bool) -> Any:
        settings = runtime.settings.model_copy(update={"toolsets": "", "http_sessions": sessions})
        monkeypatch.setattr(runtime, "settings", settings)
        server = build_server(runtime, api_keys={SERVICE_KEY: Principal("dynamic-svc", Role.SERVICE)})
        return serving(http_app(server, settings, "127.0.0.1", ShutdownGate()))

    yield use


def over_http(url: str, changes: MessageHandler | None = None) -> Client:
    transport = StreamableHttpTransport(
        f"{url}/mcp", headers={"X-CaaS-Toolsets": "dynamic"}, auth=SERVICE_KEY
    )
    return Client(transport, mode="legacy", message_handler=changes)


async def test_over_streamable_http_with_sessions_a_session_keeps_what_it_enabled(http_url: Any) -> None:
    changes = Changes()
    async with http_url(True) as url:
        async with over_http(url, changes) as client:
            assert await names(client) == FIRST
            await client.call_tool(ENABLE, {"toolset": "lenders"})
            assert changes.tool_lists == 1
            assert await names(client) == FIRST | callable_by(Role.SERVICE, "lenders")
        async with over_http(url) as fresh:
            assert await names(fresh) == FIRST


async def test_over_stateless_streamable_http_enabling_asks_for_the_header(http_url: Any) -> None:
    async with http_url(False) as url, over_http(url) as client:
        assert await names(client) == FIRST
        code, message = await failure(client, ENABLE, {"toolset": "lenders"})
    assert code == "session_required" and "X-CaaS-Toolsets: dynamic,lenders" in message


async def test_a_toolsets_resource_and_its_name_completion_follow_the_callers_role(
    runtime: Runtime, principal: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"toolsets": ""}))
    template = ResourceTemplateReference(uri="caas://toolsets/{toolset}")
    for role in (Role.OPERATOR, Role.BORROWER):
        principal(f"toolset-reader-{role.value}", role)
        async with Client(build_server(runtime)) as client:
            offered = (await client.complete(template, {"name": "toolset", "value": "L"})).values
            assert offered == [n for n in TOOLSETS if n.startswith("l") and callable_by(role, n)]
            loans = json.loads((await client.read_resource("caas://toolsets/loans"))[0].text)
            assert loans["purpose"] == TOOLSETS["loans"].purpose and loans["enabled"] is False
            assert set(loans["tools"]) == callable_by(role, "loans")
            with pytest.raises(Exception, match="not_found: 'bogus' is no toolset served here"):
                await client.read_resource("caas://toolsets/bogus")
    # A borrower is offered no toolset it has nothing in (lend, ledger and lenders start with l too).
    assert "ledger" not in offered and "loans" in offered
    async with Client(build_server(runtime)) as client:
        confirm = json.loads((await client.read_resource("caas://toolsets/confirm"))[0].text)
    assert confirm["enabled"] is True and "admin_decline_action" in confirm["tools"]


def test_a_single_service_without_the_toolset_tools_refuses_dynamic_at_start_up(capsys: Any) -> None:
    assert main(["serve", "--service", "credit", "--toolsets", "dynamic"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--toolsets: dynamic needs list_toolsets and enable_toolset" in err
