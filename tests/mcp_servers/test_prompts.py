"""Server instructions and prompts through a real MCP client, on the composed server and on each
single-service one: prompts/list shows each prompt where its tools are, with typed arguments;
prompts/get renders text that names only that server's tools and carries the arguments; the
decision and offer prompts render the real notice and the real comparison, as the caller may see them."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from mcp.shared.exceptions import MCPError

from mcp_servers.composition import SERVICES, build_server
from mcp_servers.prompts import HOMES
from mcp_servers.runtime import Runtime
from tests.helpers.bidding import COMPARE, as_borrower, call, market, place
from tests.helpers.risk import scored, submitted, uid
from tools.platform.principal import Role

SHAPES = [None, *SERVICES]
# An applicant whose debts take half their income, with a weak bureau record: declined with a notice.
DECLINE_BUREAU = {"bureau_score": 600, "recent_delinquencies": 1}
DECLINE_OVERRIDES = {"monthly_obligations": "200000.00"}
# Each prompt with sample arguments (all strings, as MCP sends them) and the values its text must show.
SAMPLES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "process_application": (
        {"amount": "500000", "currency": "KES", "term_months": "18"},
        ("KES 500,000", "18 months"),
    ),
    "onboard_lender": (
        {"lender_name": "Harbour Microfinance", "currency": "GHS", "webhook_url": "https://h.example/hook"},
        ("Harbour Microfinance", "GHS", "https://h.example/hook"),
    ),
    "daily_servicing": ({"currency": "NGN", "min_days_past_due": "30"}, ("NGN loans", "30 or more days")),
    "month_end_revenue": ({"month": "2026-02", "currency": "NGN"}, ("2026-02-01", "2026-02-28", "NGN")),
}
ARGUMENTS = {
    "process_application": {"application": False, "amount": False, "currency": False, "term_months": False},
    "explain_decision": {"application": True},
    "choose_offer": {"application": True},
    "onboard_lender": {"lender_name": True, "currency": True, "webhook_url": False},
    "daily_servicing": {"currency": False, "min_days_past_due": False},
    "month_end_revenue": {"month": True, "currency": True},
}


def tool_names(service: str | None) -> set[str]:
    """Every tool the server built for ``service`` carries, whatever the caller's role."""
    shapes = SERVICES.items() if service is None else [(service, SERVICES[service])]
    return {
        (f"{name}_" if service is None else "") + spec.fn.__name__
        for name, toolsets in shapes
        for toolset in toolsets
        for spec in toolset.specs
    }


def named_tools(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", text))


def text_of(result: Any) -> str:
    return "\n".join(m.content.text for m in result.messages)


@pytest.fixture(scope="module")
def servers(runtime: Runtime) -> dict[str | None, FastMCP]:
    return {shape: build_server(runtime, shape) for shape in SHAPES}


@pytest.mark.parametrize("shape", SHAPES)
async def test_instructions_map_the_lifecycle_with_the_servers_own_tool_names(
    servers: dict[str | None, FastMCP], shape: str | None
) -> None:
    async with Client(servers[shape], mode="legacy") as client:
        assert client.initialize_result is not None
        text = client.initialize_result.instructions or ""
    assert len(text) <= 1500
    assert "draft -> submitted" in text and "pending_disbursement -> active" in text
    named = named_tools(text)
    assert named and named <= tool_names(shape), named - tool_names(shape)
    assert ("- service:" in text) == (shape in (None, "credit", "payments"))


@pytest.mark.parametrize("shape", SHAPES)
async def test_each_server_lists_its_prompts_with_typed_arguments_and_renders_them_with_its_own_tools(
    servers: dict[str | None, FastMCP], shape: str | None
) -> None:
    expected = {name for name, homes in HOMES.items() if shape is None or shape in homes}
    async with Client(servers[shape]) as client:
        listed = {p.name: p for p in await client.list_prompts()}
        assert set(listed) == expected
        for name, prompt in listed.items():
            assert prompt.description and prompt.title
            args = {a.name: bool(a.required) for a in prompt.arguments or []}
            assert args == ARGUMENTS[name]
            assert all(a.description for a in prompt.arguments or [])
            if name not in SAMPLES:
                continue
            arguments, shown = SAMPLES[name]
            text = text_of(await client.get_prompt(name, arguments))
            assert all(value in text for value in shown), (name, text)
            named = named_tools(text)
            assert len(named) >= 2 and named <= tool_names(shape), (name, named - tool_names(shape))


async def test_prompt_arguments_are_checked(
    servers: dict[str | None, FastMCP], caplog: pytest.LogCaptureFixture
) -> None:
    """A caller's mistake is invalid params (-32602) naming the argument, never echoing its value, and
    logs no traceback. fastmcp alone answered -32603 with the value and the type's internals, logged
    at ERROR with a traceback; an argument the prompt does not take failed in the function."""
    secret = "SECRET-VALUE-" + "x" * 40
    async with Client(servers[None]) as client:
        for name, arguments, wrong in (
            ("month_end_revenue", {"month": "2026-13", "currency": "NGN"}, "month"),
            ("month_end_revenue", {"month": "0000-01", "currency": "NGN"}, "month"),  # was -32603
            ("month_end_revenue", {"month": "\u0662\u0660\u0662\u0666-01", "currency": "NGN"}, "month"),
            ("month_end_revenue", {"month": "2200-01", "currency": "NGN"}, "month"),
            ("month_end_revenue", {"month": "2026-01", "currency": "ngn"}, "currency"),
            ("month_end_revenue", {"month": secret, "currency": "NGN"}, "month"),
            ("onboard_lender", {"lender_name": "Bad\u0000Name", "currency": "NGN"}, "lender_name"),
            ("process_application", {"term_months": "0"}, "term_months"),
            ("process_application", {"term_months": secret}, "term_months"),
            ("process_application", {"surplus": "1"}, "surplus"),
            ("month_end_revenue", {"currency": "NGN"}, "month"),
        ):
            with pytest.raises(MCPError) as refused:
                await client.get_prompt(name, arguments)
            assert refused.value.error.code == -32602, refused.value.error
            message = refused.value.error.message
            assert message.startswith(f"{wrong}: ") and "SECRET" not in message and "Annotated" not in message
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_explain_decision_renders_the_applications_own_notice_for_its_borrower_only(
    client: Client, principal: Any
) -> None:
    app = await submitted(client, principal, 23, **DECLINE_OVERRIDES)
    await scored(client, principal, app, DECLINE_BUREAU, uid("op-score"))
    principal(app["borrower_id"], Role.BORROWER)
    notice = await call(client, "credit_get_adverse_action_notice", {"application": app["reference"]})
    text = text_of(await client.get_prompt("explain_decision", {"application": app["reference"]}))
    assert app["reference"] in text and notice["notice_text"] in text
    assert all(r["message"] in text for r in notice["reasons"])
    assert "`credit_get_adverse_action_notice`" in text
    principal(uid("b"), Role.BORROWER)
    with pytest.raises(MCPError, match="not_found"):
        await client.get_prompt("explain_decision", {"application": app["reference"]})


async def test_choose_offer_renders_the_live_comparison_with_apr_and_total_cost(
    client: Client, principal: Any, country: str
) -> None:
    app, (a, b, _) = await market(client, principal, country)
    await place(client, principal, app, a, annual_rate="0.24")
    await place(client, principal, app, b, annual_rate="0.20", origination_fee="5000.00")
    as_borrower(principal, app)
    comparison = await call(client, COMPARE, {"application": app["id"]})
    text = text_of(await client.get_prompt("choose_offer", {"application": app["reference"]}))
    for offer in comparison["offers"]:
        assert offer["bid"]["id"] in text and f"APR {offer['apr_percent']}%" in text
        assert offer["finance_charge"]["amount"].split(".")[0][:3] in text.replace(",", "")
    assert comparison["explanation"] in text
    assert {"providers_compare_offers", "providers_accept_offer"} <= named_tools(text)
    principal(uid("b"), Role.BORROWER)
    with pytest.raises(MCPError, match="not_found"):
        await client.get_prompt("choose_offer", {"application": app["id"]})
