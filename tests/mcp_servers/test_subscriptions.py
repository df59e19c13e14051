"""``resources/subscribe`` over Streamable HTTP (2025-11-25 era): a change made by another process (its
own Runtime and pools, only the database shared) reaches the subscribed client as
``notifications/resources/updated``; subscribing to what the caller may not read is refused."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import mcp_types
import pytest
from fastmcp import Client, FastMCP
from fastmcp.client.messages import MessageHandler
from mcp.shared.exceptions import MCPError

from mcp_servers.composition import build_server
from mcp_servers.platform.serving import ShutdownGate, http_app
from mcp_servers.runtime import Runtime
from tests.helpers.common import SERVICE_KEY, application, make_jwt, serving
from tests.helpers.loans import REPAY, call, disburse, originated, paid_at
from tests.helpers.risk import uid
from tools.platform.principal import Principal, Role

SUBMIT = "credit_submit_application"


class Updates(MessageHandler):
    def __init__(self) -> None:
        self.uris: list[str] = []
        self.arrived = asyncio.Event()

    async def on_resource_updated(self, message: mcp_types.ResourceUpdatedNotification) -> None:
        self.uris.append(str(message.params.uri))
        self.arrived.set()


def served(runtime: Runtime, *, sessions: bool) -> Any:
    """The app ``caas serve`` runs, with CAAS_HTTP_SESSIONS as given."""
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    settings = runtime.settings.model_copy(update={"http_sessions": sessions})
    return http_app(server, settings, "127.0.0.1", ShutdownGate())


@pytest.fixture(scope="module")
async def mcp_url(runtime: Runtime) -> AsyncIterator[str]:
    async with serving(served(runtime, sessions=True)) as url:  # a subscription lives in a session
        yield f"{url}/mcp"


async def test_a_stateless_http_server_does_not_offer_subscriptions(runtime: Runtime) -> None:
    async with (
        serving(served(runtime, sessions=False)) as url,
        Client(f"{url}/mcp", auth=make_jwt("b-x"), mode="legacy") as client,
    ):
        assert client.initialize_result is not None
        resources = client.initialize_result.capabilities.resources
        assert resources is not None and not resources.subscribe


async def change_in_another_process(runtime: Runtime, borrower: str, reference: str) -> None:
    assert runtime.targets is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.helpers.other_process",
        runtime.targets.core,
        runtime.targets.supabase,
        str(runtime.settings.data_dir),
        borrower,
        reference,
        runtime.targets.direct_core,
    )
    assert await asyncio.wait_for(process.wait(), 120) == 0


async def test_a_change_made_by_another_process_notifies_the_subscribed_session(
    mcp_url: str, runtime: Runtime
) -> None:
    borrower, updates = "b-subscriber", Updates()
    async with Client(mcp_url, auth=make_jwt(borrower), mode="legacy", message_handler=updates) as client:
        assert client.initialize_result is not None
        capabilities = client.initialize_result.capabilities
        assert capabilities.resources is not None and capabilities.resources.subscribe
        app = (await client.call_tool(SUBMIT, {"application": application()})).structured_content
        uri, timeline = f"caas://applications/{app['reference']}", f"caas://applications/{app['id']}/timeline"
        await client.session.subscribe_resource(uri)
        await client.session.subscribe_resource(timeline)
        await change_in_another_process(runtime, borrower, app["reference"])
        await asyncio.wait_for(updates.arrived.wait(), 30)
        await asyncio.sleep(2 * runtime.settings.subscription_poll_seconds)  # and nothing else arrives
        assert sorted(updates.uris) == sorted([uri, timeline])
        status = (await client.read_resource(uri))[0]
        assert '"withdrawn"' in status.text  # type: ignore[union-attr]


async def test_subscribing_to_what_the_caller_may_not_read_is_refused(mcp_url: str) -> None:
    async with Client(mcp_url, auth=make_jwt("b-owner"), mode="legacy") as owner:
        app: Any = (await owner.call_tool(SUBMIT, {"application": application()})).structured_content
    async with Client(mcp_url, auth=make_jwt("b-someone-else"), mode="legacy") as other:
        for uri in (
            f"caas://applications/{app['reference']}",
            "caas://loans/not-a-loan",
            "caas://risk/model",
        ):
            with pytest.raises(MCPError) as refused:
                await other.session.subscribe_resource(uri)
            assert refused.value.error.message.split(":")[0] in {"not_found", "invalid_argument"}


async def test_a_loan_subscription_follows_its_loan_until_unsubscribed(
    server: FastMCP, client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, _ = await originated(client, principal, runtime, core_db)
    principal(uid("op"), Role.OPERATOR)
    updates, witness = Updates(), Updates()
    async with (
        Client(server, mode="legacy", message_handler=updates) as watcher,
        Client(server, mode="legacy", message_handler=witness) as still,
    ):
        uris = [f"caas://loans/{loan['id']}", f"caas://loans/{loan['application_reference']}/schedule"]
        for uri in uris:
            await watcher.session.subscribe_resource(uri)
        await still.session.subscribe_resource(uris[0])
        await disburse(runtime, loan)  # the gateway's confirmation, through the use case
        await asyncio.wait_for(updates.arrived.wait(), 30)
        await asyncio.sleep(2 * runtime.settings.subscription_poll_seconds)
        assert sorted(updates.uris) == sorted(uris)
        for uri in uris:
            await watcher.session.unsubscribe_resource(uri)
        updates.uris.clear()
        witness.uris.clear()
        witness.arrived.clear()
        payment = {"loan": loan["id"], "amount": "1000.00", "paid_at": paid_at(runtime.clock)}
        await call(client, REPAY, {**payment, "reference": f"pay-{uid('r')}"})
        await asyncio.wait_for(witness.arrived.wait(), 30)  # the change was seen by who still listens
        await asyncio.sleep(2 * runtime.settings.subscription_poll_seconds)
        assert updates.uris == []
