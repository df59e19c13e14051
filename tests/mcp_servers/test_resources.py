"""Resources and completions through a real MCP client: each resource is its read tool under the same
roles (someone else's record answers not_found, a role the tool refuses answers permission_denied), and
completion offers only what the caller could list."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from fastmcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import ResourceTemplateReference

from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from tests.helpers.loans import GET_APPLICATION, GET_LOAN, STATEMENT, call, originated
from tests.helpers.risk import uid
from tools.platform.principal import Role

TIMELINE = "credit_get_application_timeline"
GET_PROVIDER = "admin_get_provider"


async def read(client: Client, uri: str) -> Any:
    return json.loads((await client.read_resource(uri))[0].text)


async def refused(client: Client, uri: str) -> str:
    with pytest.raises(Exception) as caught:
        await client.read_resource(uri)
    return str(caught.value)


async def test_an_application_and_its_timeline_read_as_their_tools_for_whoever_may(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await originated(client, principal, runtime, core_db)
    ref = loan["application_reference"]
    principal(uid("op"), Role.OPERATOR)
    app = await call(client, GET_APPLICATION, {"application": ref})
    assert await read(client, f"caas://applications/{ref}") == app
    assert await read(client, f"caas://applications/{app['id']}") == app  # an id or a reference
    timeline = await call(client, TIMELINE, {"application": ref})
    assert await read(client, f"caas://applications/{ref}/timeline") == timeline
    principal(app["borrower_id"], Role.BORROWER)  # its own borrower
    assert (await read(client, f"caas://applications/{ref}"))["id"] == app["id"]
    principal(uid("b-other"), Role.BORROWER)
    assert "not_found" in await refused(client, f"caas://applications/{ref}")
    assert "not_found" in await refused(client, f"caas://applications/{ref}/timeline")
    principal(uid("p"), Role.PROVIDER, provider["id"])  # the tool is not open to providers
    assert "permission_denied" in await refused(client, f"caas://applications/{ref}")


async def test_a_loan_its_providers_plan_and_statement_read_as_their_tools(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await originated(client, principal, runtime, core_db)
    principal(uid("op"), Role.OPERATOR)
    assert await read(client, f"caas://loans/{loan['id']}") == await call(
        client, GET_LOAN, {"loan": loan["id"]}
    )
    today = datetime.now(UTC).date()
    month, start = today.strftime("%Y-%m"), today.replace(day=1)
    principal(uid("p"), Role.PROVIDER, provider["id"])  # a provider reads its own
    plan = (await call(client, GET_PROVIDER, {"provider": provider["id"]}))["commission_plan"]
    assert await read(client, f"caas://providers/{provider['id']}/commission-plan") == plan
    statement = await read(client, f"caas://providers/{provider['id']}/statements/{month}")
    assert statement["period_start"] == start.isoformat()
    assert statement == await call(
        client,
        STATEMENT,
        {
            "provider": provider["id"],
            "period_start": statement["period_start"],
            "period_end": statement["period_end"],
        },
    )
    assert (await read(client, f"caas://loans/{loan['id']}"))["id"] == loan["id"]
    assert "invalid_argument" in await refused(
        client, f"caas://providers/{provider['id']}/statements/2026-13"
    )
    # Year 9999's month ends where a day more overflows, year 0 has no month: an internal, both, once.
    for beyond in ("9999-12", "0000-01"):
        with pytest.raises(MCPError) as caught:
            await client.read_resource(f"caas://providers/{provider['id']}/statements/{beyond}")
        assert caught.value.error.code == -32602 and "invalid_argument" in caught.value.error.message
    principal(uid("p"), Role.PROVIDER, str(uuid.uuid4()))  # any other provider
    assert "not_found" in await refused(client, f"caas://providers/{provider['id']}/commission-plan")
    assert "not_found" in await refused(client, f"caas://providers/{provider['id']}/statements/{month}")
    assert "not_found" in await refused(client, f"caas://loans/{loan['id']}")
    for unknown in (loan["id"], str(uuid.uuid4())):  # the schedule's refusal was -32603, an internal error
        with pytest.raises(MCPError) as caught:
            await client.read_resource(f"caas://loans/{unknown}/schedule")
        assert caught.value.error.code == -32602 and "not_found" in caught.value.error.message
    principal(uid("b"), Role.BORROWER)
    assert "permission_denied" in await refused(client, f"caas://providers/{provider['id']}/commission-plan")
    async with Client(build_server(runtime, "credit")) as alone:  # one address, alone or composed
        principal(uid("op"), Role.OPERATOR)
        assert (await read(alone, f"caas://loans/{loan['id']}"))["id"] == loan["id"]


async def completions(client: Client, uri: str, argument: str, typed: str) -> list[str]:
    return (
        await client.complete(ResourceTemplateReference(uri=uri), {"name": argument, "value": typed})
    ).values


async def test_completion_offers_only_what_the_caller_could_list(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await originated(client, principal, runtime, core_db)
    ref = loan["application_reference"]
    principal(uid("op"), Role.OPERATOR)
    borrower = (await call(client, GET_APPLICATION, {"application": ref}))["borrower_id"]
    assert ref in await completions(client, "caas://applications/{application}", "application", ref[:-2])
    assert loan["id"] in await completions(client, "caas://loans/{loan}", "loan", loan["id"][:8])
    assert provider["id"] in await completions(
        client, "caas://providers/{provider}/commission-plan", "provider", provider["id"][:6]
    )
    assert await completions(client, "caas://loans/{loan}", "currency", "NG") == ["NGN"]
    assert "XAU" not in await completions(client, "caas://loans/{loan}", "currency", "X")
    principal(borrower, Role.BORROWER)
    assert await completions(client, "caas://applications/{application}", "application", "") == [ref]
    principal(uid("b-other"), Role.BORROWER)
    assert await completions(client, "caas://applications/{application}", "application", ref[:-2]) == []
    assert await completions(client, "caas://loans/{loan}", "loan", "") == []
    assert await completions(client, "caas://providers/{provider}/commission-plan", "provider", "") == []
    principal(uid("p"), Role.PROVIDER, provider["id"])
    assert await completions(client, "caas://loans/{loan}", "loan", "") == [loan["id"]]
    assert await completions(client, "caas://providers/{provider}/commission-plan", "provider", "") == [
        provider["id"]
    ]
