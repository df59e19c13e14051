"""Issue 11, part 3: one identifier convention across all tools. An argument naming an entity of ours is
the entity's noun (``application``, ``loan``, ``payment``, ``provider``, ``bid``, ``document``, ...), and
takes its id (or its reference where it has one); the old ``<noun>_id`` spellings are refused with a
message naming the new argument, before anything runs. Resource templates and prompts name their
parameters the same way.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.composition import SERVICES, build_server
from mcp_servers.runtime import Runtime
from tests.helpers.bidding import ACCEPT, as_borrower, bid_rows, market, place, uid
from tests.helpers.confirm import CONFIRM, pending_id
from tests.helpers.errors import error_code, error_message, error_of
from tests.helpers.providers import GET, onboard
from tools.platform.principal import Role

# Arguments that end in _id on purpose, each with why it is not an entity of ours named by its noun.
ALLOWED = {
    "borrower_id": "a person's user id from the identity provider (a token's subject), not a record we issue",
    "user_id": "a person's user id from the identity provider (a token's subject), not a record we issue",
    "national_id": "the applicant's government identity number: personal data, not an identifier of ours",
}
_ID = re.compile(r"_ids?$")


async def test_no_tool_argument_names_an_entity_by_its_id_spelling(runtime: Runtime) -> None:
    server = build_server(runtime)
    found = {
        f"{tool.name}.{name}"
        for tool in await server.list_tools(run_middleware=False)
        for name in tool.parameters.get("properties", {})
        if _ID.search(name)
    }
    assert sorted(f for f in found if f.split(".")[1] not in ALLOWED) == []
    # The allowlist stays short and true: every name on it is still an argument somewhere.
    assert {f.split(".")[1] for f in found} == set(ALLOWED)


async def test_resource_templates_and_prompts_name_their_parameters_as_the_tools_do(runtime: Runtime) -> None:
    server = build_server(runtime)
    params = [
        (t.uri_template, p)
        for t in await server.list_resource_templates()
        for p in re.findall(r"{(\w+)}", t.uri_template)
    ]
    params += [(p.name, a.name) for p in await server.list_prompts() for a in p.arguments or []]
    assert {p for _, p in params} >= {"application", "loan", "provider"}
    assert [(where, p) for where, p in params if _ID.search(p) or p == "ref"] == []


def _renames() -> list[tuple[str, str, str, frozenset[Role]]]:
    """Every retired ``_id`` spelling on the composed server: (tool, old, new, roles that may call it)."""
    found = []
    for server, toolsets in SERVICES.items():
        for toolset in toolsets:
            for spec in toolset.specs:
                for old, instead in spec.retired:
                    if _ID.search(old):
                        new = instead.rsplit(" as ", 1)[1]
                        found.append((f"{server}_{spec.fn.__name__}", old, new, spec.roles))
    return found


async def _counts(db: asyncpg.Connection) -> tuple[int, int]:
    audit = await db.fetchval("SELECT count(*) FROM caas_audit.audit_log")
    outbox = await db.fetchval("SELECT count(*) FROM caas_core.outbox")
    return audit, outbox


async def test_each_old_spelling_is_refused_naming_the_new_one_and_changes_nothing(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    lender = (await onboard(client, principal))["provider"]
    renames = _renames()
    schemas = {t.name: t.parameters for t in await build_server(runtime).list_tools(run_middleware=False)}
    assert {old for _, old, _, _ in renames} >= {"provider_id", "bid_id", "document_id", "action_id"}
    before = await _counts(core_db)
    for tool, old, new, roles in renames:
        assert new in schemas[tool]["properties"], (tool, new)
        role = Role.OPERATOR if Role.OPERATOR in roles else sorted(roles)[0]
        principal(uid("caller"), role, lender["id"] if role is Role.PROVIDER else None)
        value = lender["id"] if old == "provider_id" else str(uuid.uuid4())
        # Everything else the tool needs is left out: the old spelling is refused before the input is read.
        result = await client.call_tool(tool, {old: value}, raise_on_error=False)
        assert error_code(result) == "invalid_argument", (tool, result)
        message = error_message(result)
        assert f"no longer takes {old}" in message and message.endswith(f" as {new}"), message
    assert await _counts(core_db) == before
    principal(uid("op"), Role.OPERATOR)
    refused = await client.call_tool(
        "admin_suspend_provider",
        {"provider_id": lender["id"], "reason": "compliance hold"},
        raise_on_error=False,
    )
    assert error_message(refused) == (
        "admin_suspend_provider no longer takes provider_id: send the provider's id as provider"
    )
    still = (await client.call_tool(GET, {"provider": lender["id"]})).structured_content
    assert (still["status"], still["version"]) == ("active", lender["version"])


async def test_a_money_move_asked_with_an_old_spelling_is_refused_at_confirmation_and_runs_nothing(
    client: Client, principal: Any, country: str, core_db: asyncpg.Connection
) -> None:
    """A pending action written before the rename holds ``bid_id``: confirming it is a conflict that says
    to ask again (its arguments would no longer bind), and the offer stays unaccepted."""
    agent = uid("agent")
    app, (a, *_) = await market(client, principal, country, lenders=1, agent=agent)
    offer = await place(client, principal, app, a)
    principal(agent, Role.AGENT)
    args = {"application": app["id"], "bid": offer["id"], "idempotency_key": f"accept-{uuid.uuid4()}"}
    asked = error_of(await client.call_tool(ACCEPT, args, raise_on_error=False))
    assert asked is not None and asked["code"] == "confirmation_required", asked
    action = pending_id(asked["message"])
    await core_db.execute(
        "UPDATE caas_core.pending_actions"
        " SET arguments = arguments - 'bid' || jsonb_build_object('bid_id', $2::text) WHERE id = $1",
        uuid.UUID(action),
        offer["id"],
    )
    as_borrower(principal, app)
    result = await client.call_tool(CONFIRM, {"action": action}, raise_on_error=False)
    assert error_code(result) == "conflict" and "bid_id" in error_message(result), result
    assert (await bid_rows(core_db, app))[0]["status"] == "active"
    status = await core_db.fetchval(
        "SELECT status FROM caas_core.pending_actions WHERE id = $1", uuid.UUID(action)
    )
    assert status == "pending"
