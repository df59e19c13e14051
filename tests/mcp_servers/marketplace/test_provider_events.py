"""A credit provider's own signed events over real HTTP (``POST /webhooks/providers/{id}``): they reach
the use cases the provider's tools reach (``bid.submitted`` places the bid, ``application.decision``
declines the invitation), once per event id; a missing, forged or stale signature is 401 and stores
nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client, FastMCP

from mcp_servers.runtime import Runtime
from tests.helpers.bidding import BIDS, INVITATIONS, as_provider, bid_body, events, market, place
from tests.helpers.loans import call
from tests.helpers.payments import (
    platform_over_http,
    post,
)
from tests.helpers.providers import decisions
from tools.marketplace.providers import provider_signing_secret
from tools.platform.domain.signatures import caas_signature


@pytest.fixture
async def client(server: FastMCP) -> AsyncIterator[Client]:
    """One in-memory client for arranging (the events themselves go over HTTP)."""
    async with Client(server) as c:
        yield c


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    async with platform_over_http(runtime) as url:
        yield url


async def provider_post(
    runtime: Runtime,
    base_url: str,
    provider_id: str,
    event: dict[str, Any],
    *,
    secret: str | None = None,
    age: int = 0,
) -> httpx.Response:
    body = json.dumps(event).encode()
    secret = secret or await provider_signing_secret(runtime.deps.marketplace, uuid.UUID(provider_id))
    timestamp = int(time.time()) - age
    headers = {
        "X-CaaS-Signature": caas_signature(body, secret, timestamp),
        "X-CaaS-Timestamp": str(timestamp),
    }
    return await post(f"{base_url}/webhooks/providers/{provider_id}", body, headers)


async def test_a_providers_signed_bid_submitted_event_places_the_bid_once(
    client: Client, principal: Any, runtime: Runtime, base_url: str, country: str
) -> None:
    app, (provider_id,) = await market(client, principal, country, lenders=1)
    event = {
        "id": f"evt-{uuid.uuid4()}",
        "type": "bid.submitted",
        "data": {"application": app["id"], "bid": bid_body()},
    }
    first = await provider_post(runtime, base_url, provider_id, event)
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    again = await provider_post(runtime, base_url, provider_id, event)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    as_provider(principal, provider_id)
    bids = (await call(client, BIDS, {"application": app["id"]}))["items"]
    assert [(b["provider_id"], b["version"], b["status"]) for b in bids] == [(provider_id, 1, "active")]
    assert bids[0]["created_by"] == f"provider-webhook:{provider_id}"


async def test_a_provider_event_the_use_case_refuses_is_422_with_its_code_and_recorded(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str, country: str
) -> None:
    app, (provider_id,) = await market(client, principal, country, lenders=1)
    too_much = {"application": app["id"], "bid": bid_body(amount="999999999.00")}
    answer = await provider_post(
        runtime,
        base_url,
        provider_id,
        {"id": f"evt-{uuid.uuid4()}", "type": "bid.submitted", "data": too_much},
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "invalid_argument")
    # A decision no use case acts on (only a decline does) is kept for operators.
    decision = {"application": app["id"], "decision": "interested"}
    recorded = await provider_post(
        runtime,
        base_url,
        provider_id,
        {"id": f"evt-{uuid.uuid4()}", "type": "application.decision", "data": decision},
    )
    assert (recorded.status_code, recorded.json()["outcome"]) == (200, "recorded")
    outcomes = await core_db.fetch(
        "SELECT event_type, outcome FROM caas_core.webhook_inbox WHERE source = $1 ORDER BY received_at",
        f"provider:{provider_id}",
    )
    assert [tuple(o) for o in outcomes] == [
        ("bid.submitted", "rejected"),
        ("application.decision", "recorded"),
    ]


def decision(provider_decision: str, **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt-{uuid.uuid4()}",
        "type": "application.decision",
        "data": {"decision": provider_decision, **data},
    }


async def test_a_providers_signed_decision_to_decline_declines_its_invitation_once(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, base_url: str, country: str
) -> None:
    app, (p1, p2) = await market(client, principal, country, lenders=2)
    declines = decision("decline", application_id=app["id"], reason="outside our appetite")
    first = await provider_post(runtime, base_url, p1, declines)
    assert (first.status_code, first.json()["outcome"]) == (200, "applied")
    again = await provider_post(runtime, base_url, p1, declines)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    # Another event saying the same: nothing changes (the use case's already_declined).
    same = decision("declined", reference=app["reference"], reason="still outside our appetite")
    repeated = await provider_post(runtime, base_url, p1, same)
    assert (repeated.status_code, repeated.json()["outcome"]) == (200, "ignored")

    as_provider(principal, p1)
    invitations = await call(client, INVITATIONS, {"application": app["id"]})
    assert [i["status"] for i in invitations["items"]] == ["declined"]
    assert await decisions(core_db, p1) == (1, 0)
    told = await events(core_db, app, "provider.invitation_declined")
    assert [e["payload"]["reason"] for e in told] == ["outside our appetite"]
    by = await core_db.fetchval(
        "SELECT principal_id FROM caas_audit.audit_log WHERE provider_id = $1 AND object_type = $2",
        p1,
        "provider_invitation",
    )
    assert by == f"provider-webhook:{p1}"

    # Refused declines answer 422 with the use case's code, like a refused bid, and change nothing.
    await place(client, principal, app, p2)
    for data, code in (
        ({"application_id": app["id"], "reason": "changed our mind"}, "conflict"),  # it bid: withdraw
        ({"application_id": app["id"], "reason": "no"}, "invalid_argument"),  # the reason is too short
        ({"reason": "changed our mind"}, "invalid_argument"),  # which application?
    ):
        refused = await provider_post(runtime, base_url, p2, decision("decline", **data))
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, code), data
    p2_invitation = await core_db.fetchval(
        "SELECT status FROM caas_core.provider_invitations WHERE application_id = $1 AND provider_id = $2",
        uuid.UUID(app["id"]),
        uuid.UUID(p2),
    )
    assert (p2_invitation, *await decisions(core_db, p2)) == ("bid_submitted", 1, 1)
    outcomes = await core_db.fetch(
        "SELECT source, outcome FROM caas_core.webhook_inbox WHERE source = ANY($1::text[]) "
        "ORDER BY received_at",
        [f"provider:{p1}", f"provider:{p2}"],
    )
    assert [(o["source"].removeprefix("provider:"), o["outcome"]) for o in outcomes] == [
        (p1, "applied"),
        (p1, "ignored"),
        (p2, "rejected"),
        (p2, "rejected"),
        (p2, "rejected"),
    ]
    assert len(await events(core_db, app, "provider.invitation_declined")) == 1


@pytest.mark.parametrize("forgery", ["other secret", "stale", "unknown provider", "not a uuid", "missing"])
async def test_a_provider_event_without_a_valid_signature_is_401_and_nothing_is_stored(
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    base_url: str,
    forgery: str,
    country: str,
) -> None:
    app, (provider_id,) = await market(client, principal, country, lenders=1)
    event = {
        "id": f"evt-{uuid.uuid4()}",
        "type": "bid.submitted",
        "data": {"application": app["id"], "bid": bid_body()},
    }
    if forgery == "other secret":
        answer = await provider_post(runtime, base_url, provider_id, event, secret="whsec_guessed")
    elif forgery == "stale":
        answer = await provider_post(runtime, base_url, provider_id, event, age=301)
    elif forgery == "missing":
        answer = await post(f"{base_url}/webhooks/providers/{provider_id}", json.dumps(event).encode(), {})
    else:
        target = str(uuid.uuid4()) if forgery == "unknown provider" else "lender-1"
        secret = await provider_signing_secret(runtime.deps.marketplace, uuid.UUID(provider_id))
        body = json.dumps(event).encode()
        now = int(time.time())
        headers = {"X-CaaS-Signature": caas_signature(body, secret, now), "X-CaaS-Timestamp": str(now)}
        answer = await post(f"{base_url}/webhooks/providers/{target}", body, headers)
    assert answer.status_code == 401
    stored = await core_db.fetchval(  # nothing under this event's id, nor from this test's lender
        "SELECT count(*) FROM caas_core.webhook_inbox WHERE event_id = $1 OR source = $2",
        event["id"],
        f"provider:{provider_id}",
    )
    assert stored == 0
    bids = await core_db.fetchval(
        "SELECT count(*) FROM caas_core.bids WHERE application_id = $1", uuid.UUID(app["id"])
    )
    assert bids == 0
