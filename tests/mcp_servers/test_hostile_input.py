"""Hostile arguments through a real MCP client (issue 10, items 1, 5, 6 and 7): characters PostgreSQL
cannot store, lenient numbers, the role gate before argument validation, unknown tool names."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client
from prometheus_client import REGISTRY

from mcp_servers.catalog import GOLDEN
from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import UNKNOWN_TOOL
from tests.helpers.common import SERVICE_KEY, application, error_code, serving
from tests.helpers.errors import error_message
from tests.helpers.providers import provider_body
from tools.platform.models import DECIMAL_PATTERN
from tools.platform.principal import Principal, Role

STAFF_ID = "operator-1"


def _message(result: Any) -> str:
    return str(error_message(result))


async def _call(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    return await client.call_tool(tool, arguments, raise_on_error=False)


def _with_applicant(**changes: Any) -> dict[str, Any]:
    body = application()
    body["applicant"] = body["applicant"] | changes
    return body


def _with_employment(**changes: Any) -> dict[str, Any]:
    body = application()
    body["employment"] = body["employment"] | changes
    return body


# Each case: who calls, the tool, its arguments, and the field the refusal must name.
UNSTORABLE = {
    "full_name NUL": (
        Role.BORROWER,
        "credit_submit_application",
        {"application": _with_applicant(full_name="Ada\u0000 Okafor")},
        "full_name",
    ),
    "employer_name NUL": (
        Role.BORROWER,
        "credit_submit_application",
        {"application": _with_employment(employer_name="Dangote\u0000")},
        "employer_name",
    ),
    "purpose_detail NUL": (
        Role.BORROWER,
        "credit_submit_application",
        {"application": application(purpose_detail="to grow\u0000 my shop")},
        "purpose_detail",
    ),
    "purpose_detail C1 control": (
        Role.BORROWER,
        "credit_submit_application",
        {"application": application(purpose_detail="to grow\u0085 my shop")},
        "purpose_detail",
    ),
    "full_name newline": (
        Role.BORROWER,
        "credit_submit_application",
        {"application": _with_applicant(full_name="Ada\nOkafor")},
        "full_name",
    ),
    "full_name lone surrogate": (
        Role.BORROWER,
        "credit_submit_application",
        {"application": _with_applicant(full_name="Ada \ud800 Okafor")},
        "full_name",
    ),
    "support subject NUL": (
        Role.BORROWER,
        "notifications_open_support_conversation",
        {"subject": "help\u0000", "message": "where is my loan"},
        "subject",
    ),
    "support message escape": (
        Role.BORROWER,
        "notifications_open_support_conversation",
        {"subject": "help", "message": "where is\u001b[2J my loan"},
        "message",
    ),
    "provider name NUL": (
        Role.ADMIN,
        "admin_onboard_provider",
        {"provider": provider_body(name="Evil\u0000Bank")},
        "name",
    ),
    "bid withdrawal reason NUL": (
        Role.PROVIDER,
        "providers_withdraw_bid",
        {"bid": str(uuid.uuid4()), "reason": "changed\u0000 our mind"},
        "reason",
    ),
    "invitation decline reason NUL": (
        Role.PROVIDER,
        "providers_decline_invitation",
        {"application": str(uuid.uuid4()), "reason": "outside\u0000 appetite"},
        "reason",
    ),
    "borrower_id filter NUL": (
        Role.OPERATOR,
        "credit_list_applications",
        {"borrower_id": "user\u0000"},
        "borrower_id",
    ),
    "provider name bidi override (reads otherwise than stored)": (
        Role.ADMIN,
        "admin_onboard_provider",
        {"provider": provider_body(name="Bank \u202eknaB lioE")},
        "name",
    ),
    "support message bidi isolate": (
        Role.BORROWER,
        "notifications_open_support_conversation",
        {"subject": "help", "message": "pay \u2067100\u2069 now"},
        "message",
    ),
    "application handle NUL": (
        Role.BORROWER,
        "credit_get_application",
        {"application": "CAAS-2026-\u0000"},
        "application",
    ),
}


@pytest.mark.parametrize("case", UNSTORABLE.values(), ids=list(UNSTORABLE))
async def test_characters_the_database_cannot_store_are_refused_naming_the_field(  # type: ignore[no-untyped-def]
    client: Client, principal, case: tuple[Role, str, dict[str, Any], str]
) -> None:
    role, tool, arguments, field = case
    principal(f"{role.value}-hostile", role, str(uuid.uuid4()) if role is Role.PROVIDER else None)
    result = await _call(client, tool, arguments)
    assert error_code(result) == "invalid_argument", result.content
    assert field in _message(result)
    assert "\u0000" not in _message(result)


async def test_newline_and_tab_are_kept_in_free_text(client: Client, principal, core_db) -> None:  # type: ignore[no-untyped-def]
    principal(f"user-{uuid.uuid4()}")
    # Right-to-left text keeps its marks (U+200F); only embeddings, overrides and isolates are refused.
    detail = "line one\n\tline two \u05e9\u05dc\u05d5\u05dd\u200f"
    result = await _call(
        client, "credit_submit_application", {"application": application(purpose_detail=detail)}
    )
    assert error_code(result) is None, result.content
    assert result.structured_content["purpose_detail"] == detail


LENIENT_NUMBERS = [
    "1e3",
    " 100",
    "100 ",
    "\u0661\u0660\u0660",
    "+100",
    "1_000",
    "0x10",
    "Infinity",
    "NaN",
    ".5",
]


@pytest.mark.parametrize("amount", [*LENIENT_NUMBERS, 100, 0.24, True])
async def test_amounts_are_ascii_decimal_strings_only(client: Client, principal, amount: Any) -> None:  # type: ignore[no-untyped-def]
    principal(f"user-{uuid.uuid4()}")
    result = await _call(client, "credit_submit_application", {"application": application(amount=amount)})
    assert error_code(result) == "invalid_argument"
    assert "amount" in _message(result) and '"250000.00"' in _message(result)


@pytest.mark.parametrize("rate", ["2.4e-1", 0.24, " 0.24"])
async def test_rates_are_ascii_decimal_strings_only(client: Client, principal, rate: Any) -> None:  # type: ignore[no-untyped-def]
    principal(STAFF_ID, Role.OPERATOR)
    arguments = {"provider": str(uuid.uuid4()), "amount": "1000.00", "annual_rate": rate, "term_months": 12}
    result = await _call(client, "credit_calculate_commission", arguments)
    assert error_code(result) == "invalid_argument"
    assert "annual_rate" in _message(result)


@pytest.mark.parametrize("term", ["12", " 12", "1_2", 12.0, True])
async def test_integers_are_json_integers(client: Client, principal, term: Any) -> None:  # type: ignore[no-untyped-def]
    principal(f"user-{uuid.uuid4()}")
    result = await _call(client, "credit_submit_application", {"application": application(term_months=term)})
    assert error_code(result) == "invalid_argument"
    assert "term_months" in _message(result)


def _walk(schema: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(schema, dict):
        return found
    found.append((path, schema))
    for option in schema.get("anyOf", []):
        found += _walk(option, path)
    for name, sub in (schema.get("properties") or {}).items():
        found += _walk(sub, f"{path}.{name}")
    found += _walk(schema.get("items"), f"{path}[]")
    return found


BIRTH = ".applicant.date_of_birth"


def test_every_text_and_number_field_declares_its_form() -> None:
    """The class guard: a new text field without a character set, or an amount that takes a JSON number,
    shows up here before an outside probe finds it."""
    tools = json.loads(GOLDEN.read_text())["tools"]
    loose = []
    for name, tool in tools.items():
        for path, schema in _walk(tool["inputSchema"], name):
            kind = schema.get("type")
            kinds = kind if isinstance(kind, list) else [kind]  # an optional value is [T, "null"]
            if "number" in kinds:
                loose.append(f"{path}: a JSON number (amounts and rates are decimal strings)")
            if "string" in kinds and not {"pattern", "format", "enum", "const"} & set(schema):
                loose.append(f"{path}: a string without a declared character set")
            # Year 9999, or year 1 at +14:00, overflowed date arithmetic and PostgreSQL: an internal.
            ranged = {"formatMinimum", "formatMaximum"} <= set(schema)
            # A birth date's range moves with today (at most 120 years ago, before today): its own rule.
            if schema.get("format") in ("date", "date-time") and not ranged and not path.endswith(BIRTH):
                loose.append(f"{path}: a day or moment without its range (tools.platform.models Day, Moment)")
            # A filter of statuses that cannot name them all: a status added later (cancelled loans)
            # made asking for every one an invalid_argument.
            items = schema.get("items")
            values = items.get("enum") if isinstance(items, dict) else None
            if values and schema.get("maxItems", len(values)) < len(values):
                loose.append(f"{path}: takes {schema['maxItems']} of its {len(values)} values (max_len)")
    assert not loose, "\n".join(loose)
    decimals = [
        p
        for t in tools.values()
        for p, s in _walk(t["inputSchema"], "")
        if s.get("pattern") == DECIMAL_PATTERN
    ]
    assert len(decimals) > 20


async def test_role_gate_runs_before_argument_validation(
    client: Client, principal, core_db: asyncpg.Connection
) -> None:  # type: ignore[no-untyped-def]
    principal(f"user-{uuid.uuid4()}", Role.BORROWER)
    for arguments in ({}, {"provider": {"name": 5}}, {"provider": "x" * 10_000, "extra": True}):
        result = await _call(client, "admin_onboard_provider", arguments)
        assert error_code(result) == "permission_denied", result.content
        assert "provider" not in _message(result).replace("admin_onboard_provider", "")
    result = await _call(client, "credit_review_application", {"application": 1, "decision": "nope"})
    assert error_code(result) == "permission_denied"


async def test_unknown_tool_is_not_found_with_the_closest_names_the_caller_can_see(
    client: Client, principal
) -> None:  # type: ignore[no-untyped-def]
    principal(f"user-{uuid.uuid4()}", Role.BORROWER)
    result = await _call(client, "credit_submit_aplication", {})
    assert error_code(result) == "not_found"
    assert "credit_submit_application" in _message(result)
    hidden = await _call(client, "admin_onboard_providr", {})
    assert error_code(hidden) == "not_found"
    assert "admin_onboard_provider" not in _message(hidden)
    odd = await _call(client, "x\u0000" * 500, {})
    assert error_code(odd) == "not_found" and "\u0000" not in _message(odd)


async def test_names_a_caller_makes_up_add_no_metric_series(client: Client, principal) -> None:  # type: ignore[no-untyped-def]
    """Each made-up name was a new series of caas_tool_errors_total, kept for the process's life and
    served by /metrics: 50 calls of 20,000-character names made it 20 MB."""
    principal(f"user-{uuid.uuid4()}", Role.BORROWER)
    made_up = f"zz_{uuid.uuid4().hex}"
    before = REGISTRY.get_sample_value("caas_tool_errors_total", {"tool": UNKNOWN_TOOL, "code": "not_found"})
    for _ in range(3):
        assert error_code(await _call(client, made_up, {})) == "not_found"
    labels = {s.labels.get("tool") for m in REGISTRY.collect() for s in m.samples}
    assert made_up not in labels
    after = REGISTRY.get_sample_value("caas_tool_errors_total", {"tool": UNKNOWN_TOOL, "code": "not_found"})
    assert after == (before or 0) + 3
    # A tool the server has keeps its own name.
    await _call(client, "credit_get_application", {"application": "CAAS-2026-999999"})
    assert REGISTRY.get_sample_value(
        "caas_tool_errors_total", {"tool": "credit_get_application", "code": "not_found"}
    )


@pytest.mark.parametrize("handle", ["%00", "a%00b", "%1B%5B2J", "\u0000", "a\u001bb", "x" * 300])
async def test_a_resource_address_with_unstorable_characters_is_refused_not_internal(  # type: ignore[no-untyped-def]
    client: Client, principal, handle: str
) -> None:
    principal(STAFF_ID, Role.OPERATOR)
    with pytest.raises(Exception) as refused:
        await client.read_resource(f"caas://loans/{handle}/schedule")
    message = str(refused.value).lower()
    assert "internal" not in message and (
        "not found" in message or "not_found" in message or "invalid" in message
    )


@pytest.mark.parametrize(("sent", "kept"), [("req-1.a:b_c", "req-1.a:b_c"), ("req\x85\xa0<script>", None)])
async def test_a_request_id_is_kept_only_in_the_form_of_a_reference(  # type: ignore[no-untyped-def]
    runtime: Runtime, core_db: asyncpg.Connection, sent: str, kept: str | None
) -> None:
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    borrower = f"user-{uuid.uuid4()}"
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "credit_draft_application",
            "arguments": {"application": application(borrower_id=borrower)},
        },
    }
    headers = {
        "Authorization": f"Bearer {SERVICE_KEY}",
        "MCP-Protocol-Version": "2025-11-25",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "X-Request-ID": sent.encode("latin-1"),
    }
    async with serving(server.http_app(path="/mcp", stateless_http=True)) as url, httpx.AsyncClient() as http:
        response = await http.post(f"{url}/mcp", content=json.dumps(body), headers=headers)
    assert response.status_code == 200 and '"isError":true' not in response.text.replace(" ", "")
    stored = await core_db.fetchval(
        "SELECT request_id FROM caas_audit.audit_log WHERE tool = 'credit.draft_application' "
        "ORDER BY id DESC LIMIT 1"
    )
    if kept is not None:
        assert stored == kept
    else:  # a new id is made for the call instead, in the form of a reference
        assert stored != sent and re.fullmatch(r"[A-Za-z0-9._:-]+", stored)


def _cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        (
            "credit_get_platform_revenue",
            {"currency": "NGN", "period_start": "2026-01-01", "period_end": "9999-12-31"},
            "period_end",
        ),
        ("credit_list_applications", {"created_from": "0001-01-01T00:00:00+14:00"}, "created_from"),
        ("credit_list_applications", {"created_to": "9999-12-31T23:59:59-14:00"}, "created_to"),
        (
            "admin_get_account_balance",
            {"account": "platform:commission_income:NGN", "as_of": "9999-12-31T23:59:59-14:00"},
            "as_of",
        ),
        (
            "credit_list_applications",
            {"cursor": _cursor("0001-01-01T00:00:00+14:00", str(uuid.UUID(int=0)))},
            "cursor",
        ),
        (
            "credit_list_applications",
            {"cursor": _cursor("9999-12-31T23:59:59-14:00", str(uuid.UUID(int=0)))},
            "cursor",
        ),
        (
            "credit_get_platform_revenue",
            {
                "currency": "NGN",
                "period_start": "2026-01-01",
                "period_end": "2026-01-31",
                "cursor": _cursor(2**70, "x"),
            },
            "cursor",
        ),
    ],
)
async def test_days_moments_and_cursors_beyond_what_the_database_holds_are_invalid_not_internal(  # type: ignore[no-untyped-def]
    client: Client, principal, tool: str, arguments: dict[str, Any], field: str
) -> None:
    """An outside probe found each of these an ``internal``: a day added to 9999-12-31, year 1 at
    +14:00 taken to UTC, a cursor's time or integer beyond PostgreSQL's types."""
    principal(f"admin-{uuid.uuid4()}", Role.ADMIN)
    result = await _call(client, tool, arguments)
    assert error_code(result) == "invalid_argument", _message(result)
    assert field in _message(result)
