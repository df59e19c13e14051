"""The whole journey of bench_journey.py, one agent at a time, through persistent MCP clients.

Modelled on ``caas demo`` (mcp_servers/demo.py): its data builders are reused; the steps are its
steps, with three lenders onboarded once for the whole run, three bids, and the waits for the
gateway's webhooks done on the database (not by polling a tool) so that every journey makes the same
tool calls. Each person has a bearer token (HS256, the test issuer's) and one client per agent.
"""

import asyncio
import contextlib
import hashlib
import json
import ssl
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.client.session import ClientSession

from mcp_servers.demo import CURRENCY, DemoFailed, _application, _lender
from tests.helpers.common import make_jwt
from tests.helpers.confirm import person_confirms

__all__ = [
    "LENDER_RATES",
    "Agent",
    "HookReceiver",
    "Tally",
    "onboard_lenders",
    "run_journey",
    "share_output_validators",
]

LENDER_RATES = (("0.30", "0.24"), ("0.32", "0.26"), ("0.34", "0.28"))  # (max annual rate, bid rate)
PATIENCE_S = 120.0  # how long a webhook may take to land under load


# One TLS context for every client of the run: httpx builds one per client otherwise (loading the CA
# bundle, about 15 ms of the driver's CPU per borrower), although every URL here is plain http.
_TLS = ssl.create_default_context()


def share_output_validators() -> Callable[[], None]:
    """Diagnostic economy of the driver, not of the server: the MCP SDK compiles a tool's output-schema
    validator once per client session (``check_schema`` against JSON Schema 2020-12's metaschema: 7-28
    ms for one of our tools, measured in bench/README.md), and every journey's borrower is a new
    session. Here the run's sessions share each compiled validator; every result is still validated,
    and what the server is sent does not change. ``--fresh-validators`` leaves the SDK as it is.
    Returns the undoing."""
    compile_one = ClientSession._output_schema_validator
    compiled: dict[str, Any] = {}

    def shared(self: ClientSession, name: str, output_schema: dict[str, Any]) -> Any:
        if (validator := self._tool_output_validators.get(name)) is not None:
            return validator
        key = json.dumps(output_schema, sort_keys=True)
        if (validator := compiled.get(key)) is None:
            validator = compiled[key] = compile_one(self, name, output_schema)
        self._tool_output_validators[name] = validator
        return validator

    ClientSession._output_schema_validator = shared  # type: ignore[method-assign]

    def restore() -> None:
        ClientSession._output_schema_validator = compile_one  # type: ignore[method-assign]

    return restore


class Tally:
    """Every tool call's latency by tool, and the errors, of one cell."""

    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.calls = 0

    def add(self, tool: str, seconds: float) -> None:
        self.lat.setdefault(tool, []).append(seconds)
        self.calls += 1


def token(subject: str, role: str, provider_id: str | None = None) -> str:
    return make_jwt(subject, role=role, provider_id=provider_id, exp=int(time.time()) + 4 * 3600)


class Agent:
    """One concurrent agent: its people's clients (the borrower's is new for each journey)."""

    def __init__(
        self, url: str, mode: str, tally: Tally, tokens: dict[str, str], lenders: dict[str, str] | None = None
    ) -> None:
        self.url, self.mode, self.tally, self.tokens = url, mode, tally, tokens
        self.lenders = lenders or {}  # provider id -> the token's name (lender1..3)
        self.clients: dict[str, Client] = {}
        self.stack = contextlib.AsyncExitStack()

    def _client(self, bearer: str) -> Client:
        # Every toolset, as the demo: each person plays its whole part beyond a role's default view.
        headers = {"X-CaaS-Toolsets": "all"}
        transport = StreamableHttpTransport(self.url, auth=bearer, headers=headers, verify=_TLS)
        return Client(transport, elicitation_handler=person_confirms, timeout=120, mode=self.mode)

    async def open(self) -> "Agent":
        await self.stack.__aenter__()
        for who, bearer in self.tokens.items():
            self.clients[who] = await self.stack.enter_async_context(self._client(bearer))
        return self

    async def close(self) -> None:
        await self.stack.aclose()

    async def borrower(self, subject: str) -> None:
        """A new person for each journey, on a client of their own, connected untimed: the journey's
        calls are what is measured. It lists the tools when it connects, as an agent does to learn them;
        otherwise the SDK lists them inside the first call (to validate its result), and the submission
        would be timed with a whole listing in it. The server serves the same requests either way."""
        old = self.clients.pop("borrower", None)
        if old is not None:
            await old.__aexit__(None, None, None)
        client = await self._client(token(subject, "borrower")).__aenter__()
        await client.list_tools()
        self.clients["borrower"] = client

    async def call(self, who: str, tool: str, args: dict[str, Any]) -> Any:
        t0 = time.perf_counter()
        try:
            result = await self.clients[who].call_tool(tool, args, raise_on_error=False)
        except Exception as exc:  # the transport's own failure, named with the call it broke
            raise DemoFailed(f"{tool} as {who}: {type(exc).__name__}: {exc}") from exc
        self.tally.add(tool, time.perf_counter() - t0)
        content = result.structured_content or {}
        if result.is_error:
            error = content.get("error") if isinstance(content, dict) else None
            what = (
                f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else result.content
            )
            raise DemoFailed(f"{tool} as {who} {args}: {str(what)[:400]}")
        return content


async def onboard_lenders(url: str, mode: str, hook_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """The three lenders, onboarded once by an operator; returns each lender's token by name, and
    each name by provider id."""
    tally, made, names = Tally(), {}, {}
    operator = Agent(url, mode, tally, {"operator": token("bench-onboarder", "operator")})
    await operator.open()
    try:
        for n, (ceiling, _) in enumerate(LENDER_RATES, start=1):
            # Capital for every journey of the run: the best offer is always the same lender's.
            terms = _lender(f"Bench Bank {n}", ceiling) | {"capital_available": "100000000000.00"}
            terms["webhook_url"] = hook_url
            got = await operator.call("operator", "admin_onboard_provider", {"provider": terms})
            made[f"lender{n}"] = token(f"bench-lender-{n}", "provider", got["provider"]["id"])
            names[got["provider"]["id"]] = f"lender{n}"
    finally:
        await operator.close()
    return made, names


def _applicant(n: int) -> dict[str, Any]:
    body = _application()
    body["applicant"] |= {
        "email": f"bench{n}@example.com",
        "phone": f"+23480{n % 10**8:08d}",
        "national_id": f"{40000000000 + n}",
    }
    return body


async def _upload(a: Agent, app: dict[str, Any], kind: str, data_dir: Path) -> None:
    data = b"%PDF-1.7\n" + f"{kind} {app['id']}".encode() + b"\n%%EOF\n"
    ask = {
        "application": app["reference"],
        "document_type": kind,
        "file_name": f"{kind}.pdf",
        "media_type": "application/pdf",
        "size_bytes": len(data),
    }
    target = await a.call("borrower", "documents_request_document_upload", ask)
    if not target.get("local_path"):
        raise DemoFailed(f"expected a local upload path (CAAS_DATA_DIR {data_dir}), got {target}")
    await asyncio.to_thread(Path(target["local_path"]).write_bytes, data)
    register = {
        "upload": target["upload_id"],
        "size_bytes": len(data),
        "media_type": "application/pdf",
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    doc = await a.call("borrower", "documents_register_document", register)
    await a.call("operator", "documents_verify_document", {"document": doc["id"], "decision": "verified"})


async def _apply_and_bid(a: Agent, n: int, data_dir: Path) -> dict[str, Any]:
    app = await a.call("borrower", "credit_submit_application", {"application": _applicant(n)})
    for kind in ("national_id", "proof_of_income"):
        await _upload(a, app, kind, data_dir)
    bureau = {"bureau_score": 790, "recent_delinquencies": 0}
    scored = await a.call(
        "operator", "risk_score_application", {"application": app["reference"], "bureau": bureau}
    )
    if scored["application_status"] != "open_for_bids":
        raise DemoFailed(f"scored {scored['application_status']}, not open_for_bids")
    report = await a.call("operator", "providers_invite_providers", {"application": app["id"]})
    if sum(1 for r in report["ranking"] if r["invited"]) != len(LENDER_RATES):
        raise DemoFailed(f"not every lender was invited: {report['ranking']}")
    valid_until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    for n_lender, (_, rate) in enumerate(LENDER_RATES, start=1):
        bid = {
            "currency": CURRENCY,
            "amount": "250000.00",
            "annual_rate": rate,
            "term_months": 12,
            "origination_fee": "2500.00",
            "valid_until": valid_until,
        }
        await a.call(f"lender{n_lender}", "providers_place_bid", {"application": app["id"], "bid": bid})
    compared = await a.call("borrower", "providers_compare_offers", {"application": app["id"]})
    best = compared["offers"][0]["bid"]
    # The borrower's client answers the elicitation (person_confirms): a person says yes.
    accept = {"application": app["id"], "bid": best["id"], "idempotency_key": f"accept-{app['id']}"}
    await a.call("borrower", "providers_accept_offer", accept)
    return {"app": app, "bid": best}


async def until(db: Any, what: str, sql: str, arg: Any) -> None:
    """The gateway's webhook lands on its own: wait for its effect in the database."""
    deadline = time.monotonic() + PATIENCE_S
    while not await db.fetchval(sql, arg):
        if time.monotonic() > deadline:
            raise DemoFailed(f"{what} did not happen within {PATIENCE_S:.0f} s")
        await asyncio.sleep(0.05)


async def run_journey(a: Agent, n: int, db: Any, data_dir: Path, http: httpx.AsyncClient) -> None:
    """One borrower's journey from application to the lender's statement."""
    await a.borrower(f"bench-borrower-{n}-{uuid.uuid4().hex[:6]}")
    got = await _apply_and_bid(a, n, data_dir)
    app, bid = got["app"], got["bid"]
    approve = {"application": app["id"], "comment": "identity and income verified"}
    await a.call("checker", "credit_approve_application", approve)
    loan = await a.call("checker", "credit_originate_loan", {"application": app["id"]})
    payout = {"loan": loan["id"], "idempotency_key": f"disburse-{loan['id']}"}
    await a.call("checker", "payments_disburse_loan", payout)  # confirmed by elicitation
    active = "SELECT status = 'active' FROM caas_core.loans WHERE id = $1::uuid"
    await until(db, "the transfer webhook activating the loan", active, loan["id"])
    schedule = await a.call("borrower", "credit_get_repayment_schedule", {"loan": loan["id"]})
    first = schedule["lines"][0]["total"]["amount"]
    collect = {"loan": loan["id"], "amount": first, "idempotency_key": f"collect-{loan['id']}"}
    charge = await a.call("borrower", "payments_collect_repayment", collect)
    try:
        paid = await http.post(charge["authorization_url"], params={"outcome": "success"})
    except httpx.HTTPError as exc:
        raise DemoFailed(f"paying on the sandbox's page: {type(exc).__name__}: {exc}") from exc
    if paid.status_code != 200:
        raise DemoFailed(f"the sandbox's payment page answered HTTP {paid.status_code}")
    settled = "SELECT status = 'succeeded' FROM caas_core.payments WHERE id = $1::uuid"
    await until(db, "the charge webhook settling the repayment", settled, charge["id"])
    await a.call("borrower", "payments_get_payment", {"payment": charge["id"]})
    await a.call("borrower", "credit_get_loan", {"loan": loan["id"]})
    lender = a.lenders[bid["provider_id"]]
    today = datetime.now(UTC).date().isoformat()
    period = {"provider": bid["provider_id"], "period_start": today, "period_end": today}
    await a.call(lender, "credit_get_commission_statement", period)


class HookReceiver:
    """The lenders' webhook endpoint: answers 200 to every POST (the platform signs; we do not check)."""

    def __init__(self) -> None:
        self.received = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        return f"http://127.0.0.1:{port}/caas/webhook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                size = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        size = int(line.split(b":", 1)[1])
                await reader.readexactly(size)
                self.received += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
