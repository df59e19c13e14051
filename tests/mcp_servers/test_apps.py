"""MCP Apps (issue 13, part 5) through a real MCP client: the tools name their ``ui://`` pages in
``_meta.ui.resourceUri``, the pages are listed and readable as ``text/html;profile=mcp-app`` with CSP
metadata declaring no origin, they load nothing from anywhere, call back only their own tool, and a host
without MCP Apps sees each tool exactly as before apart from ``_meta``. The results the pages render still
validate against the tools' output schemas.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import asyncpg
import jsonschema
import pytest
from fastmcp import Client

from mcp_servers.apps import (
    APPS,
    BORROWER_APP,
    CONFIRMATIONS_APP,
    INVITATIONS_APP,
    OFFERS_APP,
    QUEUE_APP,
    SCHEDULE_APP,
)
from mcp_servers.composition import SERVICES, build_server
from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import as_tool
from tests.helpers.bidding import COMPARE, as_borrower
from tests.helpers.loans import originated
from tests.mcp_servers.marketplace.test_offers import three_offers
from tools.platform.principal import Role

MIME = "text/html;profile=mcp-app"
SCHEDULE = "credit_get_repayment_schedule"
QUEUE = "credit_list_review_queue"
INVITATIONS = "providers_list_invitations"
PENDING = "admin_list_pending_actions"
APPLICATION = "credit_get_application"
PREVIEW = "providers_preview_bid"
PLACE = "providers_place_bid"


def ui(tool: Any) -> dict[str, Any]:
    return dict((tool.meta or {}).get("ui") or {})


async def test_the_tools_name_their_pages_and_the_pages_are_listed_with_no_origin_declared(
    client: Client, principal: Any
) -> None:
    principal("apps-operator", Role.OPERATOR)
    tools = {t.name: t for t in await client.list_tools()}
    assert ui(tools[COMPARE]) == {"resourceUri": OFFERS_APP}
    assert ui(tools[SCHEDULE]) == {"resourceUri": SCHEDULE_APP}
    assert ui(tools[QUEUE]) == {"resourceUri": QUEUE_APP}
    assert ui(tools[INVITATIONS]) == {"resourceUri": INVITATIONS_APP}
    assert ui(tools[PENDING]) == {"resourceUri": CONFIRMATIONS_APP}
    assert ui(tools[APPLICATION]) == {"resourceUri": BORROWER_APP}
    with_pages = {name for name, tool in tools.items() if ui(tool)}
    assert with_pages == {COMPARE, SCHEDULE, QUEUE, INVITATIONS, PENDING, APPLICATION}
    resources = {str(r.uri): r for r in await client.list_resources()}
    for uri, app in APPS.items():
        listed = resources[uri]
        assert listed.mime_type == MIME and listed.description == app.description
        assert listed.meta["ui"] == {"csp": {"connectDomains": [], "resourceDomains": []}}


@pytest.mark.parametrize("uri", list(APPS))
async def test_each_page_is_whole_loads_nothing_and_calls_only_tools_the_app_may_see(
    client: Client, principal: Any, uri: str
) -> None:
    (content,) = await client.read_resource(uri)
    assert content.mime_type == MIME
    assert content.meta == {"ui": {"csp": {"connectDomains": [], "resourceDomains": []}}}
    html = content.text
    assert re.search(r"(?i)https?:|//[a-z0-9.-]+\.[a-z]{2,}/", html) is None, "a URL to some origin"
    assert re.search(r"(?i)<(script|link|img|iframe)\b[^>]*\b(src|href)=", html) is None, "a fetched asset"
    assert "/*BRIDGE*/" not in html and "/*STYLE*/" not in html and "{{TOOL}}" not in html
    assert "Intl.NumberFormat" in html and ".innerHTML" not in html
    app = APPS[uri]
    # Of the host the page asks tool calls and ui/initialize, nothing else.
    assert set(re.findall(r'hostRequest\("([^"]+)"', html)) == {"tools/call", "ui/initialize"}
    # Every tool the page names (in {{TOOL:...}}, rendered as this server names it) is a tool the app may
    # call: no visibility, or one including "app". The page's own tool is among them.
    tools = {}
    for role in Role:
        principal(f"apps-{role.value}", role)
        tools.update({t.name: t for t in await client.list_tools()})
    services = "|".join(SERVICES)
    called = set(re.findall(rf'"((?:{services})_[a-z_]+)"', html))
    assert f"{app.service}_{app.tool}" in called
    for name in called:
        assert name in tools, name
        assert "app" in ui(tools[name]).get("visibility", ["app"]), name


def model_view(tools: list[Any]) -> set[str]:
    """What a host with MCP Apps puts before the model: every tool whose visibility includes "model"
    (absent means model and app, the extension's default)."""
    return {t.name for t in tools if "model" in ui(t).get("visibility", ["model", "app"])}


async def test_app_only_tools_are_listed_for_the_pages_but_hidden_from_the_models_view(
    client: Client, principal: Any
) -> None:
    principal("apps-lender", Role.PROVIDER, "apps-lender")
    listed = await client.list_tools()
    app_only = {t.name for t in listed if ui(t).get("visibility") == ["app"]}
    assert app_only == {PREVIEW}
    assert PREVIEW not in model_view(listed)
    assert {PLACE, INVITATIONS} <= model_view(listed)
    # Hidden from the model, not from the lender: the page calls it under the same role gate.
    (content,) = await client.read_resource(INVITATIONS_APP)
    assert f'"{PREVIEW}"' in content.text
    principal("apps-borrower", Role.BORROWER)
    assert PREVIEW not in {t.name for t in await client.list_tools()}
    refused = await client.call_tool(PREVIEW, {}, raise_on_error=False)
    assert refused.is_error and (refused.meta or {}).get("caas/error_code") == "permission_denied"


async def test_a_single_service_server_serves_its_own_pages_naming_its_tools_unprefixed(
    runtime: Runtime,
) -> None:
    async with Client(build_server(runtime, "providers")) as providers:
        uris = {str(r.uri) for r in await providers.list_resources()}
        (content,) = await providers.read_resource(OFFERS_APP)
    assert OFFERS_APP in uris and SCHEDULE_APP not in uris
    assert '<meta name="caas-tool" content="compare_offers">' in content.text


@pytest.mark.parametrize("service", ["providers", "credit"])
def test_a_host_without_mcp_apps_sees_the_same_tools_but_for_meta(service: str) -> None:
    for toolset in SERVICES[service]:
        for spec in toolset.specs:
            if spec.app is None or spec.app_only:
                continue
            with_app = as_tool(spec, service).to_mcp_tool().model_dump(by_alias=True)
            plain = dataclasses.replace(spec, app=None)
            without = as_tool(plain, service).to_mcp_tool().model_dump(by_alias=True)
            meta = with_app.pop("_meta")
            assert meta.pop("ui") == {"resourceUri": spec.app}
            assert {**with_app, "_meta": meta} == without


async def test_the_results_the_pages_render_validate_against_the_output_schemas(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, country: str
) -> None:
    app, _, _ = await three_offers(client, principal, country)
    as_borrower(principal, app)
    comparison = await client.call_tool(COMPARE, {"application": app["reference"]})
    loan, _ = await originated(client, principal, runtime, core_db)
    schedule = await client.call_tool(SCHEDULE, {"loan": loan["id"]})
    principal("apps-operator", Role.OPERATOR)
    queue = await client.call_tool(QUEUE, {"limit": 5})
    invited = await client.call_tool(INVITATIONS, {"application": app["reference"]})
    pending = await client.call_tool(PENDING, {"include_settled": True})
    tools = {t.name: t for t in await client.list_tools()}
    results = [(COMPARE, comparison), (SCHEDULE, schedule), (QUEUE, queue), (INVITATIONS, invited)]
    results.append((PENDING, pending))
    for name, result in results:
        assert not result.is_error
        jsonschema.validate(result.structured_content, tools[name].output_schema)
    assert len(comparison.structured_content["offers"]) == 3
    assert len(invited.structured_content["items"]) == 3
    assert schedule.structured_content["lines"]
