"""``caas demo``: the whole journey against a running server, through an MCP client over Streamable HTTP.

Each person has a token of their own (``caas token --role``), so the run shows who may do what: a
borrower files and uploads, one operator verifies and scores, lenders bid, the borrower accepts, a
second operator approves (maker-checker), originates and pays out through the sandbox, the borrower
repays, a lender reads its statement and the ledger reconciles. The first failure stops the run.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import anyio
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from adapters.platform.http import HttpClient
from mcp_servers.config import Settings
from mcp_servers.platform.local_tokens import mint_local_token
from tools.platform.principal import Role

__all__ = ["DemoFailed", "run_demo"]

CURRENCY = "NGN"
PATIENCE_S = 90.0  # how long the background workers and the sandbox's webhooks may take


class DemoFailed(Exception):
    """A step did not do what the journey needs; the message says which and why."""


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _the_person_says_yes(
    message: str, response_type: object, params: object, context: object
) -> dict[str, bool]:
    """A money move asks the person at the client (whoever runs the demo), who says yes."""
    _say(f"    asked to confirm: {message.splitlines()[0] if message else 'a money move'}")
    return {"confirm": True}


class Journey:
    """The people of one run, each with a token, and the MCP calls they make."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.url = url
        run = uuid.uuid4().hex[:8]
        self.run = run
        people = {
            "borrower": (Role.BORROWER, f"demo-borrower-{run}"),
            "operator": (Role.OPERATOR, f"demo-operator-{run}"),
            "checker": (Role.OPERATOR, f"demo-checker-{run}"),
        }
        self.settings = settings
        self.lender_ids: list[str] = []
        self.tokens = {
            who: mint_local_token(settings, role, subject=subject, ttl_s=3600)
            for who, (role, subject) in people.items()
        }

    def add_lender(self, name: str, provider_id: str) -> None:
        self.tokens[name] = mint_local_token(
            self.settings,
            Role.PROVIDER,
            subject=f"demo-{name}-{self.run}",
            provider_id=provider_id,
            ttl_s=3600,
        )

    async def call(self, who: str, tool: str, args: dict[str, Any]) -> Any:
        # Every toolset: the demo plays each person's whole part, beyond a role's default view.
        transport = StreamableHttpTransport(
            self.url, auth=self.tokens[who], headers={"X-CaaS-Toolsets": "all"}
        )
        async with Client(transport, elicitation_handler=_the_person_says_yes) as client:
            result = await client.call_tool(tool, args, raise_on_error=False)
        content = result.structured_content or {}
        if result.is_error:
            error = content.get("error") if isinstance(content, dict) else None
            detail = (
                f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else result.content
            )
            raise DemoFailed(f"{tool} as {who} failed: {detail}")
        return content

    async def until(self, what: str, check: Any) -> Any:
        """Polls ``check`` until it returns something: the workers and webhooks run on their own."""
        with anyio.move_on_after(PATIENCE_S):
            while True:
                found = await check()
                if found:
                    return found
                await anyio.sleep(0.5)
        raise DemoFailed(f"{what} did not happen within {PATIENCE_S:.0f} s (are the workers running?)")


def _lender(name: str, rate: str) -> dict[str, Any]:
    return {
        "name": name,
        "provider_type": "bank",
        "currency": CURRENCY,
        "countries": ["NG"],
        "min_amount": "50000.00",
        "max_amount": "5000000.00",
        "capital_available": "100000000.00",
        "min_term_months": 3,
        "max_term_months": 36,
        "accepted_grades": ["A", "B", "C"],
        "min_score": 550,
        "max_dti": "0.45",
        "min_annual_rate": "0.18",
        "max_annual_rate": rate,
        # A name that never resolves: the demo's lenders answer by tool, not by webhook.
        "webhook_url": "https://lender.invalid/caas/webhook",
    }


def _application() -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {
        "applicant": {
            "full_name": "Adaeze Okafor",
            "email": "adaeze@example.com",
            "phone": "+2348012345678",
            "country": "NG",
            "date_of_birth": date(today.year - 40, today.month, 1).isoformat(),
            "national_id": "48213957610",
            "bank_account": {"bank_code": "058", "account_number": "0123987456"},
        },
        "currency": CURRENCY,
        "amount": "250000.00",
        "term_months": 12,
        "purpose": "business",
        "monthly_income": "450000.00",
        "monthly_obligations": "35000.00",
        "employment": {"status": "employed", "employer_name": "Dangote Cement", "months_in_employment": 30},
    }


async def _lenders(j: Journey) -> list[dict[str, Any]]:
    lenders = []
    for n, rate in ((1, "0.26"), (2, "0.30")):
        terms = _lender(f"Demo Bank {n} {j.run}", rate)
        made = (await j.call("operator", "admin_onboard_provider", {"provider": terms}))["provider"]
        j.add_lender(f"lender{n}", made["id"])
        lenders.append(made)
        _say(f"  the operator onboards {made['name']}: lends {CURRENCY} 50,000 to 5,000,000 for 3-36 months")
    return lenders


async def _upload(j: Journey, app: dict[str, Any], kind: str) -> dict[str, Any]:
    data = b"%PDF-1.7\n" + f"{kind} {j.run}".encode() + b"\n%%EOF\n"
    ask = {
        "application": app["reference"],
        "document_type": kind,
        "file_name": f"{kind}.pdf",
        "media_type": "application/pdf",
        "size_bytes": len(data),
    }
    target = await j.call("borrower", "documents_request_document_upload", ask)
    if target.get("local_path"):
        await anyio.Path(target["local_path"]).write_bytes(data)
    else:
        async with HttpClient(timeout=30) as http:
            put = await http.put(
                target["upload_url"], content=data, headers={"Content-Type": "application/pdf"}
            )
            if put.status_code >= 300:
                raise DemoFailed(f"uploading {kind} answered HTTP {put.status_code}")
    register = {
        "upload": target["upload_id"],
        "size_bytes": len(data),
        "media_type": "application/pdf",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return dict(await j.call("borrower", "documents_register_document", register))


async def _apply(j: Journey) -> dict[str, Any]:
    app = await j.call("borrower", "credit_submit_application", {"application": _application()})
    _say(
        f"  the borrower applies for {CURRENCY} 250,000.00 over 12 months: "
        f"{app['reference']} is {app['status']}"
    )
    for kind in ("national_id", "proof_of_income"):
        doc = await _upload(j, app, kind)
        await j.call("operator", "documents_verify_document", {"document": doc["id"], "decision": "verified"})
        _say(f"  the borrower uploads the {kind.replace('_', ' ')}; the operator, who did not, verifies it")
    bureau = {"bureau_score": 790, "recent_delinquencies": 0}
    scored = await j.call(
        "operator", "risk_score_application", {"application": app["reference"], "bureau": bureau}
    )
    _say(
        f"  the operator scores it: grade {scored['grade']}, score {scored['score']}, "
        f"now {scored['application_status']}"
    )
    if scored["application_status"] != "open_for_bids":
        raise DemoFailed(f"the application is {scored['application_status']}, not open_for_bids")
    return dict(app)


async def _bids(j: Journey, app: dict[str, Any], lenders: list[dict[str, Any]]) -> dict[str, Any]:
    report = await j.call("operator", "providers_invite_providers", {"application": app["id"]})
    ours = {lender["id"] for lender in lenders}
    invited = [r for r in report["ranking"] if r["provider_id"] in ours and r["invited"]]
    _say(f"  the operator matches it to {len(report['ranking'])} lender(s) and invites them, ours included")
    if len(invited) != len(lenders):
        raise DemoFailed("the demo's lenders were not both invited")
    valid_until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    for n, (lender, rate) in enumerate(zip(lenders, ("0.24", "0.28"), strict=True), start=1):
        bid = {
            "currency": CURRENCY,
            "amount": "250000.00",
            "annual_rate": rate,
            "term_months": 12,
            "origination_fee": "2500.00",
            "valid_until": valid_until,
        }
        await j.call(f"lender{n}", "providers_place_bid", {"application": app["id"], "bid": bid})
        _say(f"  {lender['name']} bids {CURRENCY} 250,000.00 at {rate} a year with a 2,500.00 fee")
    compared = await j.call("borrower", "providers_compare_offers", {"application": app["id"]})
    best = compared["offers"][0]
    _say(f"  the borrower compares the offers: {compared['explanation'].split('. ')[0]}")
    accept = {
        "application": app["id"],
        "bid": best["bid"]["id"],
        "idempotency_key": f"demo-accept-{j.run}",
    }
    await j.call("borrower", "providers_accept_offer", accept)
    _say("  the borrower accepts it; the lender's capital is reserved")
    return dict(best["bid"])


async def _loan(j: Journey, app: dict[str, Any]) -> dict[str, Any]:
    approve = {"application": app["id"], "comment": "identity and income verified"}
    await j.call("checker", "credit_approve_application", approve)
    _say("  a second operator approves it (maker-checker: not who filed, submitted, reviewed or changed it)")
    loan = await j.call("checker", "credit_originate_loan", {"application": app["id"]})
    _say(f"  the loan is originated: {loan['term_months']} installments, first due {loan['first_due_date']}")
    paid_out = {"loan": loan["id"], "idempotency_key": f"demo-disburse-{j.run}"}
    out = await j.call("checker", "payments_disburse_loan", paid_out)
    money = "simulated money" if out.get("simulated") else "real money"
    _say(
        f"  the checker disburses it through {out.get('vendor') or 'the gateway'} ({money}), "
        f"reference {out['reference']}"
    )

    async def active() -> Any:
        found = await j.call("checker", "credit_get_loan", {"loan": loan["id"]})
        return found if found["status"] == "active" else None

    loan = await j.until("the transfer webhook activating the loan", active)
    _say(f"  the gateway's transfer webhook arrives: the loan is {loan['status']}")
    return dict(loan)


async def _repay(j: Journey, loan: dict[str, Any]) -> None:
    schedule = await j.call("borrower", "credit_get_repayment_schedule", {"loan": loan["id"]})
    first = schedule["lines"][0]["total"]["amount"]
    collect = {"loan": loan["id"], "amount": first, "idempotency_key": f"demo-collect-{j.run}"}
    charge = await j.call("borrower", "payments_collect_repayment", collect)
    async with HttpClient(timeout=30) as http:
        paid = await http.post(charge["authorization_url"], params={"outcome": "success"})
    if paid.status_code != 200:
        raise DemoFailed(f"the payment page answered HTTP {paid.status_code}")
    _say(f"  the borrower pays the first installment, {CURRENCY} {first}, on the payment page")

    async def settled() -> Any:
        payment = await j.call("borrower", "payments_get_payment", {"payment": charge["id"]})
        return payment if payment["status"] == "succeeded" else None

    await j.until("the charge webhook settling the repayment", settled)
    after = await j.call("borrower", "credit_get_loan", {"loan": loan["id"]})
    _say(f"  the charge webhook settles it: next due is installment {after['next_due']['number']}")


async def _books(j: Journey, bid: dict[str, Any]) -> None:
    lender = "lender1" if bid["provider_id"] == j.lender_ids[0] else "lender2"
    today = datetime.now(UTC).date().isoformat()
    period = {"provider": bid["provider_id"], "period_start": today, "period_end": today}
    statement = await j.call(lender, "credit_get_commission_statement", period)
    total = statement["total"]
    _say(
        f"  the winning lender reads its statement: it owes the platform "
        f"{total['currency']} {total['amount']} today"
    )
    reconciled = await j.call("operator", "admin_reconcile_ledger", {})
    if not reconciled["consistent"]:
        raise DemoFailed(f"the ledger does not reconcile: {reconciled['differences']}")
    _say(f"  the operator reconciles the ledger: {reconciled['journals_checked']} journals, consistent")


async def run_demo(settings: Settings, url: str) -> int:
    """0 when every step passed; 1 on the first failure, which is printed in one line."""
    j = Journey(settings, url)
    _say(f"caas demo against {url} (run {j.run})")
    step = "0. checking the server"
    try:
        await _preflight(j)
        step = "1. two lenders join the marketplace"
        _say(step)
        lenders = await _lenders(j)
        j.lender_ids = [lender["id"] for lender in lenders]
        step = "2. a borrower applies, with documents, and is scored"
        _say(step)
        app = await _apply(j)
        step = "3. the lenders are matched and bid; the borrower compares and accepts"
        _say(step)
        bid = await _bids(j, app, lenders)
        step = "4. approval, origination and payout"
        _say(step)
        loan = await _loan(j, app)
        step = "5. the first repayment"
        _say(step)
        await _repay(j, loan)
        step = "6. the lender's statement and the ledger"
        _say(step)
        await _books(j, bid)
    except DemoFailed as exc:
        _say(f"FAILED: {exc}")
        return 1
    except Exception as exc:  # whatever stops the journey is reported in one line
        _say(f"FAILED at {step.split('. ', 1)[0]}: {_why(exc, url)}")
        return 1
    _say("done: all 6 steps passed")
    return 0


async def _preflight(j: Journey) -> None:
    """A refused token reads as an opaque MCP error in the client: ask once, plainly, over HTTP."""
    hello = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "caas-demo", "version": "1"},
        },
    }
    headers = {
        "Authorization": f"Bearer {j.tokens['operator']}",
        "Accept": "application/json, text/event-stream",
    }
    async with HttpClient(timeout=30) as http:
        answer = await http.post(j.url, json=hello, headers=headers)
    if answer.status_code == 401:
        raise DemoFailed(
            f"{j.url} refused the demo's token: run caas demo with the server's CAAS_DATA_DIR, where local "
            "tokens are on (CAAS_LOCAL_TOKENS)"
        )
    if answer.status_code != 200:
        raise DemoFailed(f"{j.url} answered HTTP {answer.status_code}; is it a caas server's /mcp URL?")


def _why(exc: Exception, url: str) -> str:
    text = str(exc) or type(exc).__name__
    if "connect" in text.lower():
        return f"cannot reach {url} ({text}); is `caas serve` running?"
    return f"{type(exc).__name__}: {text}"
