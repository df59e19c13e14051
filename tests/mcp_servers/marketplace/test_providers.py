"""Provider management through a real MCP client on real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.providers import (
    GET,
    LIST,
    ONBOARD,
    REACTIVATE,
    ROTATE,
    SUSPEND,
    UPDATE,
    call,
    onboard,
    provider_body,
    refused,
    uid,
)
from tools.marketplace.providers import provider_signing_secret
from tools.platform.principal import Role


async def stored(db: asyncpg.Connection, provider_id: str) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM caas_core.providers WHERE id = $1", uuid.UUID(provider_id))
    assert row is not None
    return row


async def test_onboarding_shows_the_secret_once_and_stores_it_only_encrypted(
    client: Client, principal: Any, core_db: asyncpg.Connection, runtime: Runtime
) -> None:
    done = await onboard(client, principal, name=uid("Zenith Test"))
    secret, provider = done["webhook_secret"], done["provider"]
    assert secret.startswith("whsec_") and len(secret) >= 40
    assert provider["status"] == "active" and provider["version"] == 1
    assert provider["min_amount"] == {"amount": "50000.00", "currency": "NGN"}
    assert provider["commission_plan"]["principal_rate"] == "0.085"  # the default 8.5%
    assert "webhook_secret" not in provider

    seen = [await client.call_tool(GET, {"provider": provider["id"]})]
    seen.append(await client.call_tool(LIST, {"limit": 100}))
    for result in seen:
        assert secret not in json.dumps(result.structured_content)
        assert secret not in str(result.content)

    row = await stored(core_db, provider["id"])
    assert secret.encode() not in row["webhook_secret_encrypted"]
    assert await provider_signing_secret(runtime.deps.marketplace, uuid.UUID(provider["id"])) == secret
    events = await core_db.fetch(
        "SELECT event_type, payload::text AS body FROM caas_core.outbox WHERE aggregate_id = $1",
        provider["id"],
    )
    assert [e["event_type"] for e in events] == ["provider.onboarded"]
    assert secret not in events[0]["body"]
    audit = await core_db.fetchval(
        "SELECT tool FROM caas_audit.audit_log WHERE object_type = 'provider' AND object_id = $1",
        provider["id"],
    )
    assert audit == "admin.onboard_provider"


async def test_rotation_returns_a_new_secret_once_and_the_old_one_stops(
    client: Client, principal: Any, runtime: Runtime
) -> None:
    done = await onboard(client, principal)
    provider_id = done["provider"]["id"]
    rotated = await call(client, ROTATE, {"provider": provider_id})
    assert rotated["webhook_secret"] != done["webhook_secret"]
    assert (
        await provider_signing_secret(runtime.deps.marketplace, uuid.UUID(provider_id))
        == rotated["webhook_secret"]
    )
    after = await call(client, GET, {"provider": provider_id})
    assert after["webhook_secret_rotated_at"] > done["provider"]["webhook_secret_rotated_at"]
    assert rotated["webhook_secret"] not in json.dumps(after)


async def test_update_changes_only_what_is_given_and_revalidates_the_whole(
    client: Client, principal: Any, core_db: asyncpg.Connection
) -> None:
    provider = (await onboard(client, principal))["provider"]
    changes = {
        "max_amount": "9000000.00",
        "countries": ["NG", "GH"],
        "commission_plan": {"principal_rate": "0.07"},
    }
    updated = await call(client, UPDATE, {"provider": provider["id"], "changes": changes})
    assert updated["max_amount"] == {"amount": "9000000.00", "currency": "NGN"}
    assert updated["countries"] == ["NG", "GH"]
    assert updated["commission_plan"]["principal_rate"] == "0.07"
    assert updated["min_amount"] == provider["min_amount"] and updated["version"] == 2

    same = await call(client, UPDATE, {"provider": provider["id"], "changes": {"countries": ["NG", "GH"]}})
    assert same["version"] == 2  # nothing changed: no new version, no event

    for bad in (
        {"min_amount": "10000000.00"},  # above max_amount
        {"currency": "JPY"},  # "50000.00" has decimals JPY does not
        {"min_term_months": 40},  # above max_term_months
        {"webhook_url": "http://lender.example.com/hook"},
    ):
        assert (
            await refused(client, UPDATE, {"provider": provider["id"], "changes": bad}) == "invalid_argument"
        )
    row = await stored(core_db, provider["id"])
    assert (row["version"], row["currency"], row["min_amount_minor"]) == (2, "NGN", 5_000_000)
    events = await core_db.fetch(
        "SELECT payload FROM caas_core.outbox WHERE aggregate_id = $1 AND event_type = 'provider.updated'",
        provider["id"],
    )
    assert [e["payload"]["changed"] for e in events] == [["countries", "max_amount_minor", "commission_plan"]]


async def test_a_new_currency_comes_with_amounts_in_it(client: Client, principal: Any) -> None:
    provider = (await onboard(client, principal))["provider"]
    amounts = {"min_amount": "5000", "max_amount": "900000", "capital_available": "10000000"}
    moved = await call(
        client, UPDATE, {"provider": provider["id"], "changes": {"currency": "JPY", **amounts}}
    )
    assert moved["currency"] == "JPY" and moved["max_amount"] == {"amount": "900000", "currency": "JPY"}
    only = {"provider": provider["id"], "changes": {"currency": "KES"}}
    assert await refused(client, UPDATE, only) == "invalid_argument"


async def test_suspend_and_reactivate_each_once(
    client: Client, principal: Any, core_db: asyncpg.Connection, country: str
) -> None:
    provider = (await onboard(client, principal, countries=[country]))["provider"]
    pid = provider["id"]
    suspended = await call(client, SUSPEND, {"provider": pid, "reason": "licence under review"})
    assert suspended["status"] == "suspended" and suspended["suspended_reason"] == "licence under review"
    assert await refused(client, SUSPEND, {"provider": pid, "reason": "again"}) == "conflict"
    listed = await call(client, LIST, {"status": ["suspended"], "country": country})
    assert [p["id"] for p in listed["items"]] == [pid]
    active = await call(client, REACTIVATE, {"provider": pid})
    assert active["status"] == "active" and active["suspended_reason"] is None
    assert await refused(client, REACTIVATE, {"provider": pid}) == "conflict"
    events = await core_db.fetch(
        "SELECT event_type FROM caas_core.outbox WHERE aggregate_id = $1 ORDER BY id", pid
    )
    assert [e["event_type"] for e in events] == [
        "provider.onboarded",
        "provider.suspended",
        "provider.reactivated",
    ]


async def test_a_provider_sees_and_acts_only_for_itself(client: Client, principal: Any) -> None:
    mine = (await onboard(client, principal))["provider"]
    other = (await onboard(client, principal))["provider"]
    principal(uid("lender-user"), Role.PROVIDER, mine["id"])
    assert (await call(client, GET, {"provider": mine["id"]}))["id"] == mine["id"]
    assert await refused(client, GET, {"provider": other["id"]}) == "not_found"
    assert await refused(client, ROTATE, {"provider": other["id"]}) == "not_found"
    assert (await call(client, ROTATE, {"provider": mine["id"]}))["provider_id"] == mine["id"]
    assert await refused(client, LIST, {}) == "permission_denied"
    assert (
        await refused(client, UPDATE, {"provider": mine["id"], "changes": {"min_score": 300}})
        == "permission_denied"
    )
    assert (
        await refused(client, SUSPEND, {"provider": other["id"], "reason": "competitor"})
        == "permission_denied"
    )
    assert await refused(client, ONBOARD, {"provider": provider_body()}) == "permission_denied"
    principal(uid("lender-user"), Role.PROVIDER)  # a provider token without a provider_id
    assert await refused(client, GET, {"provider": mine["id"]}) == "not_found"


@pytest.mark.parametrize("role", [Role.BORROWER, Role.AGENT])
async def test_borrowers_and_agents_neither_see_nor_call_provider_tools(
    client: Client, principal: Any, role: Role
) -> None:
    provider = (await onboard(client, principal))["provider"]
    principal(uid("u"), role)
    visible = {t.name for t in await client.list_tools()}
    assert not {ONBOARD, GET, LIST, UPDATE, SUSPEND, ROTATE} & visible
    assert await refused(client, GET, {"provider": provider["id"]}) == "permission_denied"
    assert await refused(client, ONBOARD, {"provider": provider_body()}) == "permission_denied"


BAD_PROVIDERS = {
    "unknown type": {"provider_type": "pawnshop"},
    "not a currency": {"currency": "XYZ"},
    "too many decimals": {"min_amount": "50000.001"},
    "min above max": {"min_amount": "6000000.00"},
    "negative capital": {"capital_available": "-1.00"},
    "bad country": {"countries": ["Nigeria"]},
    "repeated country": {"countries": ["NG", "NG"]},
    "no countries": {"countries": []},
    "bad grade": {"accepted_grades": ["F"]},
    "repeated grade": {"accepted_grades": ["A", "A"]},
    "score out of range": {"min_score": 900},
    "dti above 1": {"max_dti": "1.5"},
    "dti too precise": {"max_dti": "0.45001"},
    "terms reversed": {"min_term_months": 24, "max_term_months": 6},
    "term too long": {"max_term_months": 121},
    "rates reversed": {"min_annual_rate": "0.4", "max_annual_rate": "0.2"},
    "negative rate": {"min_annual_rate": "-0.01"},
    "plain http": {"webhook_url": "http://lender.example.com/hook"},
    "credentials in url": {"webhook_url": "https://user:pw@lender.example.com/hook"},
    "not a url": {"webhook_url": "lender.example.com/hook"},
    "commission above 100%": {"commission_plan": {"principal_rate": "1.5"}},
    "tier too precise": {
        "commission_plan": {
            "tiers": [{"currency": "NGN", "from_principal": "0.001", "principal_rate": "0.07"}]
        }
    },
    "two caps in one currency": {
        "commission_plan": {"caps": [{"currency": "NGN", "max_commission": "1.00"}] * 2}
    },
    "unknown field": {"colour": "red"},
    "secret supplied": {"webhook_secret": "mine"},
}


@pytest.mark.parametrize("bad", BAD_PROVIDERS.values(), ids=BAD_PROVIDERS.keys())
async def test_bad_onboarding_is_an_invalid_argument_and_stores_nothing(
    client: Client, principal: Any, core_db: asyncpg.Connection, bad: dict[str, Any]
) -> None:
    principal(uid("op"), Role.OPERATOR)
    body = provider_body(**bad)
    assert await refused(client, ONBOARD, {"provider": body}) == "invalid_argument"
    assert (
        await core_db.fetchval("SELECT count(*) FROM caas_core.providers WHERE name = $1", body["name"]) == 0
    )


async def test_names_are_unique_ignoring_case(client: Client, principal: Any) -> None:
    name = uid("Unique Lender")
    await onboard(client, principal, name=name)
    assert await refused(client, ONBOARD, {"provider": provider_body(name=name.upper())}) == "conflict"


async def test_localhost_webhooks_and_full_commission_plans_are_accepted(
    client: Client, principal: Any
) -> None:
    plan = {
        "principal_rate": "0.085",
        "tiers": [
            {"currency": "NGN", "from_principal": "1000000.00", "principal_rate": "0.07"},
            {"currency": "NGN", "from_principal": "0", "principal_rate": "0.09"},
        ],
        "caps": [{"currency": "NGN", "max_commission": "500000.00"}],
        "interest_share": "0.1",
    }
    done = await onboard(client, principal, webhook_url="http://127.0.0.1:9000/hook", commission_plan=plan)
    shown = done["provider"]["commission_plan"]
    assert [t["from_principal"] for t in shown["tiers"]] == ["0.00", "1000000.00"]  # stored in order
    assert shown["caps"] == [{"currency": "NGN", "max_commission": "500000.00"}]
    assert shown["interest_share"] == "0.1"


async def test_listing_filters_and_pages(client: Client, principal: Any, country: str) -> None:
    made = [
        (
            await onboard(
                client,
                principal,
                currency="KES",
                countries=["KE", country],
                min_amount="5000.00",
                max_amount="900000.00",
            )
        )["provider"]["id"]
        for _ in range(3)
    ]
    # The filters have something to leave out: the test's country in NGN, and KES outside it.
    await onboard(client, principal, countries=[country])
    await onboard(client, principal, currency="KES", countries=["KE"])
    seen: list[str] = []
    cursor = None
    while True:
        page = await call(
            client,
            LIST,
            {"currency": "KES", "country": country, "limit": 2, **({"cursor": cursor} if cursor else {})},
        )
        assert all(p["currency"] == "KES" and country in p["countries"] for p in page["items"])
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)  # each once: the test's country holds only its providers
    assert await refused(client, GET, {"provider": "not-a-uuid"}) == "not_found"
    assert await refused(client, GET, {"provider": str(uuid.uuid4())}) == "not_found"
