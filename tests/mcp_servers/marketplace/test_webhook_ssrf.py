"""A lender's webhook_url cannot aim the platform inside the network (SSRF): with local receivers not
allowed (any deployment but the embedded default and the sandbox), onboarding or changing a provider
to a loopback, private, link-local or plain-http URL is an invalid_argument naming webhook_url, and an
event for a provider whose stored URL is such a one is not sent: its delivery fails at once, saying
why, and the receiver gets nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastmcp import Client

from adapters.marketplace.webhook_sender import HttpxWebhookSender
from database.platform.jobs import PgJobStore
from mcp_servers.runtime import Runtime
from tests.helpers.errors import error_code, error_message
from tests.helpers.providers import ONBOARD, UPDATE, call, provider_body, uid
from tests.helpers.webhooks import Hooks
from tools.marketplace.provider_webhooks import QUEUE, deliver_provider_webhook
from tools.platform.jobs import Job, relay_outbox, run_queue
from tools.platform.principal import Role

INSIDE = [
    "http://localhost:3001/api/services/caas/deactivate",  # the Onasis registry on the same host
    "https://localhost:3001/api/services/caas/deactivate",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.5/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[fe80::1]/hooks",
    "https://2130706433/hooks",
    "http://lender.example.com/hooks",
]


@pytest.fixture
def strict(runtime: Runtime) -> Iterator[None]:
    """The deployment refuses local receivers (CAAS_WEBHOOK_ALLOW_LOCAL off) for this test's calls."""
    before = runtime._deps
    assert before is not None
    runtime._deps = replace(before, marketplace=replace(before.marketplace, webhook_allow_local=False))
    yield
    runtime._deps = before


@pytest.mark.parametrize("url", INSIDE)
async def test_onboarding_a_receiver_inside_the_network_is_an_invalid_argument_naming_webhook_url(
    client: Client, principal: Any, strict: None, url: str
) -> None:
    principal(uid("op"), Role.OPERATOR)
    result = await client.call_tool(
        ONBOARD, {"provider": provider_body(webhook_url=url)}, raise_on_error=False
    )
    assert result.is_error and error_code(result) == "invalid_argument"
    assert "webhook_url" in error_message(result)


async def test_changing_a_providers_url_to_one_inside_the_network_is_refused_and_public_https_passes(
    client: Client, principal: Any, strict: None
) -> None:
    principal(uid("op"), Role.OPERATOR)
    done = await call(
        client, ONBOARD, {"provider": provider_body(webhook_url="https://lender.example.com/h")}
    )
    provider_id = done["provider"]["id"]
    refused = await client.call_tool(
        UPDATE,
        {"provider": provider_id, "changes": {"webhook_url": "https://169.254.169.254/"}},
        raise_on_error=False,
    )
    assert error_code(refused) == "invalid_argument"
    changed = await call(
        client,
        UPDATE,
        {"provider": provider_id, "changes": {"webhook_url": "https://hooks.example.org/caas"}},
    )
    assert changed["webhook_url"] == "https://hooks.example.org/caas"


async def test_an_event_for_a_stored_loopback_url_is_not_sent_when_local_receivers_are_refused(
    hooks: Hooks,
) -> None:
    # Registered while local receivers were allowed (the receiver is on loopback, over http).
    provider_id, _, name = await hooks.lender()
    await hooks.invite()
    [event_id] = await hooks.invited_events(provider_id)
    assert hooks.runtime.core_pool is not None
    store = PgJobStore(hooks.runtime.core_pool)
    sender = HttpxWebhookSender(allow_local=False, timeout_seconds=2)
    refusing = replace(hooks.runtime.deps.marketplace, sender=sender, webhook_allow_local=False)

    async def handler(job: Job) -> None:
        await deliver_provider_webhook(
            refusing if job.event_id == event_id else hooks.runtime.deps.marketplace, job
        )

    try:
        await relay_outbox(store)
        while await run_queue(store, QUEUE, handler, clock=hooks.runtime.clock):
            pass
    finally:
        await sender.aclose()
    assert hooks.receiver.got[name] == []
    [row] = await hooks.deliveries(provider=provider_id)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 0, None)
    assert row["last_error"].startswith("not sent: the webhook_url must use https")
