"""The reference lender agent (examples/lender_agent, issue 13 part 7) against a real ``caas serve`` with
the sandbox: the platform's signed ``provider.invited`` webhook reaches the agent, which bids, revises or
declines through the MCP tools with its provider token; a forged or stale webhook does nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from standardwebhooks import Webhook

from examples.lender_agent.agent import LenderAgent
from mcp_servers.config import load_settings
from mcp_servers.demo import Journey, _apply, _lender
from tests.helpers.caas_process import caas_serve, demo_environment
from tests.helpers.common import REPO_ROOT, caas_env, free_port

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

PATIENCE_S = 90.0  # the outbox, the webhook worker and the agent's own MCP call


def rules(max_amount: str, rate: str = "0.22") -> dict[str, Any]:
    grade = {"annual_rate": rate, "fee_rate": "0.01", "max_amount": max_amount}
    return {"currency": "NGN", "daily_appetite": 5, "capital": "1000000.00", "grades": {"A": grade}}


@asynccontextmanager
async def running(agent: LenderAgent, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(agent.app(), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the agent's server stopped"
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def decided(agent: LenderAgent, action: str) -> str:
    deadline = time.monotonic() + PATIENCE_S
    while not any(d.action == action for d in agent.decisions):
        assert time.monotonic() < deadline, f"no {action} within {PATIENCE_S:.0f} s: {agent.summary()}"
        await asyncio.sleep(0.3)
    return next(d.line() for d in agent.decisions if d.action == action)


def acted(agent: LenderAgent) -> list[str]:
    return [d.action for d in agent.decisions if d.action != "noted"]


def signed(secret: str, event: dict[str, Any], *, age_s: int = 0) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event, separators=(",", ":"), sort_keys=True)
    moment = datetime.now(UTC) - timedelta(seconds=age_s)
    headers = {
        "webhook-id": event["id"],
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret if secret.startswith("whsec_") else secret.encode()).sign(
            event["id"], moment, body
        ),
        "Content-Type": "application/json",
    }
    return body.encode(), headers


@pytest.fixture
async def environment(fresh_database: Any, tmp_path: Path) -> dict[str, str]:
    env = await demo_environment(fresh_database, tmp_path / "data")
    # The agents listen on loopback over plain http; a failed delivery is retried within a second.
    return {**env, "CAAS_WEBHOOK_ALLOW_LOCAL": "true", "CAAS_WEBHOOK_RETRY_BASE_SECONDS": "1"}


async def onboard(j: Journey, name: str, port: int, rule_file: Path, url: str) -> LenderAgent:
    terms = {**_lender(f"{name} {j.run}", "0.30"), "webhook_url": f"http://127.0.0.1:{port}/webhook"}
    made = await j.call("operator", "admin_onboard_provider", {"provider": terms})
    j.add_lender(name, made["provider"]["id"])
    return LenderAgent(url, j.tokens[name], made["webhook_secret"], rule_file)


async def test_the_agent_bids_revises_declines_and_ignores_forged_webhooks(
    environment: dict[str, str], tmp_path: Path
) -> None:
    bold, cautious = tmp_path / "bold.json", tmp_path / "cautious.toml"
    bold.write_text(json.dumps(rules("5000000.00")))
    cautious.write_text('currency = "NGN"\ndaily_appetite = 5\ncapital = "1000000.00"\n'
                        '[grades.A]\nannual_rate = "0.22"\nmax_amount = "100000.00"\n')  # fmt: skip
    settings = load_settings(data_dir=Path(environment["CAAS_DATA_DIR"]), local_tokens=True)
    async with caas_serve(environment, tmp_path) as url:
        ports = free_port(), free_port()  # chosen while the server and its sandbox hold theirs
        j = Journey(settings, url)
        lender = await onboard(j, "bold", ports[0], bold, url)
        declining = await onboard(j, "cautious", ports[1], cautious, url)
        async with running(lender, ports[0]), running(declining, ports[1]):
            app = await _apply(j)
            invited = await j.call("operator", "providers_invite_providers", {"application": app["id"]})
            assert sum(r["invited"] for r in invited["ranking"]) >= 2

            placed = await decided(lender, "placed")
            why = await decided(declining, "declined")
            bids = (await j.call("bold", "providers_list_bids", {"application": app["id"]}))["items"]
            assert [(b["version"], Decimal(b["annual_rate"]), b["status"]) for b in bids] == [
                (1, Decimal("0.22"), "active")
            ]
            assert bids[0]["origination_fee"]["amount"] == "2500.00", placed
            assert "above our maximum of 100000.00 for grade A" in why
            theirs = await j.call("cautious", "providers_list_invitations", {"application": app["id"]})
            assert [i["status"] for i in theirs["items"]] == ["declined"]

            # Forged (another secret) and stale (the right secret, 10 minutes old): 401, nothing done.
            invitation = {"id": f"evt-{uuid.uuid4()}", "type": "provider.invited", "data": {
                "application_id": app["id"], "reference": app["reference"], "currency": "NGN",
                "amount": "250000.00", "term_months": 12, "grade": "A"}}  # fmt: skip
            before = acted(lender)
            forged = signed("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(), invitation)
            stale = signed(lender.webhook_secret, {**invitation, "id": f"evt-{uuid.uuid4()}"}, age_s=600)
            async with httpx.AsyncClient(timeout=30) as http:
                for body, headers in (forged, stale):
                    answer = await http.post(
                        f"http://127.0.0.1:{ports[0]}/webhook", content=body, headers=headers
                    )
                    assert answer.status_code == 401
                assert (lender.rejected, acted(lender)) == (2, before)

                # A changed rule file reprices the next invitation for that application: a revision.
                bold.write_text(json.dumps(rules("5000000.00", rate="0.21")))
                body, headers = signed(lender.webhook_secret, {**invitation, "id": f"evt-{uuid.uuid4()}"})
                answer = await http.post(
                    f"http://127.0.0.1:{ports[0]}/webhook", content=body, headers=headers
                )
                assert answer.json() == {"status": "processed", "action": "revised"}
                again = await http.post(f"http://127.0.0.1:{ports[0]}/webhook", content=body, headers=headers)
                assert again.json() == {"status": "duplicate"}
            bids = (await j.call("bold", "providers_list_bids", {"application": app["id"]}))["items"]
            assert [(b["version"], Decimal(b["annual_rate"]), b["status"]) for b in bids] == [
                (2, Decimal("0.21"), "active"),
                (1, Decimal("0.22"), "superseded"),
            ]
    assert acted(lender) == ["placed", "revised"]
    assert acted(declining) == ["declined"]
    # The platform's other events (bid.placed, bid.revised, ...) are noted, never acted on.
    assert {d.detail for d in lender.decisions if d.action == "noted"} <= {"bid.placed", "bid.revised"}


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "set LENDER_TOKEN"),
        ({"LENDER_TOKEN": "t", "LENDER_WEBHOOK_SECRET": "whsec_x"}, "cannot use the rule file"),
    ],
)
async def test_the_command_refuses_to_start_without_its_secrets_or_a_usable_rule_file(
    env: dict[str, str], says: str, tmp_path: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.lender_agent", "--rules", str(tmp_path / "missing.toml"),
        env={**caas_env(), **env}, cwd=REPO_ROOT, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert (proc.returncode, says in err.decode()) == (2, True), err.decode()
