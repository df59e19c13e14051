"""Rotating a lender's webhook secret is not a hard cut: for CAAS_WEBHOOK_SECRET_OVERLAP_HOURS the
replaced secret keeps working beside the new one, both ways. Deliveries carry the Standard Webhooks
headers with a signature per valid secret (checked with the ``standardwebhooks`` package, as a lender
would) beside the X-CaaS ones; the lender's own events signed with the replaced secret are accepted."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from mcp_servers.runtime import Runtime
from tests.helpers.loans import call
from tests.helpers.payments import platform_over_http, post
from tests.helpers.providers import ROTATE
from tests.helpers.webhooks import Hooks
from tools.platform.domain.signatures import caas_signature, check_caas


@pytest.fixture(scope="module")
async def base_url(runtime: Runtime) -> AsyncIterator[str]:
    async with platform_over_http(runtime) as url:
        yield url


def _standard_ok(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


async def _rotated_a_day_ago(db: asyncpg.Connection, provider_id: str) -> None:
    """The overlap (24 h by default) is over: the rotation is moved back instead of the clock, since
    the lender's library checks the timestamp against its own clock."""
    await db.execute(
        "UPDATE caas_core.providers SET webhook_secret_rotated_at = now() - interval '25 hours' "
        "WHERE id = $1",
        uuid.UUID(provider_id),
    )


async def test_after_a_rotation_deliveries_verify_with_the_old_and_the_new_secret_until_the_overlap_ends(
    hooks: Hooks,
) -> None:
    provider_id, old, name = await hooks.lender()
    await hooks.invite()
    await hooks.runtime.workers.drain()
    [before] = hooks.receiver.got[name]
    assert _standard_ok(old, before.body, before.headers)
    assert before.headers["webhook-id"] == before.headers["x-caas-event-id"]
    assert before.headers["webhook-timestamp"] == before.headers["x-caas-timestamp"]
    assert len(before.headers["webhook-signature"].split(" ")) == 1  # nothing rotated yet

    rotated = await call(hooks.client, ROTATE, {"provider": provider_id})
    new = rotated["webhook_secret"]
    until = datetime.fromisoformat(rotated["previous_valid_until"])
    assert until - datetime.fromisoformat(rotated["rotated_at"]) == timedelta(hours=24)
    await hooks.invite()
    await hooks.runtime.workers.drain()
    during = hooks.receiver.got[name][-1]
    signatures = during.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    # A lender that has not deployed the new secret yet still verifies; one that has, too.
    assert _standard_ok(old, during.body, during.headers) and _standard_ok(new, during.body, during.headers)
    caas = (during.headers["x-caas-signature"], during.headers["x-caas-timestamp"])
    assert check_caas(during.body, *caas, new, int(time.time())).ok  # X-CaaS: the current secret

    await _rotated_a_day_ago(hooks.db, provider_id)
    await hooks.invite()
    await hooks.runtime.workers.drain()
    after = hooks.receiver.got[name][-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert _standard_ok(new, after.body, after.headers) and not _standard_ok(old, after.body, after.headers)


async def _lender_event(base_url: str, provider_id: str, secret: str) -> int:
    event = {"id": f"evt-{uuid.uuid4()}", "type": "lender.note", "data": {}}
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    headers = {
        "X-CaaS-Signature": caas_signature(body, secret, timestamp),
        "X-CaaS-Timestamp": str(timestamp),
    }
    return (await post(f"{base_url}/webhooks/providers/{provider_id}", body, headers)).status_code


async def test_a_lenders_own_events_signed_with_the_replaced_secret_are_accepted_during_the_overlap_only(
    hooks: Hooks, base_url: str
) -> None:
    provider_id, old, _ = await hooks.lender()
    new = (await call(hooks.client, ROTATE, {"provider": provider_id}))["webhook_secret"]
    assert await _lender_event(base_url, provider_id, old) == 200
    assert await _lender_event(base_url, provider_id, new) == 200
    assert await _lender_event(base_url, provider_id, "whsec_guessed") == 401
    await _rotated_a_day_ago(hooks.db, provider_id)
    assert await _lender_event(base_url, provider_id, old) == 401
    assert await _lender_event(base_url, provider_id, new) == 200


async def test_only_the_latest_replaced_secret_overlaps_after_two_rotations(
    hooks: Hooks, base_url: str
) -> None:
    provider_id, first, _ = await hooks.lender()
    second = (await call(hooks.client, ROTATE, {"provider": provider_id}))["webhook_secret"]
    third = (await call(hooks.client, ROTATE, {"provider": provider_id}))["webhook_secret"]
    assert await _lender_event(base_url, provider_id, third) == 200
    assert await _lender_event(base_url, provider_id, second) == 200
    assert await _lender_event(base_url, provider_id, first) == 401
