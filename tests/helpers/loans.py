"""Helpers for the loan and commission tests: an approved application with an accepted bid, origination,
disbursement through the use case, payment times on the runtime's clock and ledger reads.

Arranged in SQL, because other services own these steps: the accepted bid (one INSERT into
caas_core.bids, as accept_offer would leave it, with its capital reservation journal) and, on the
fast path, the approval itself. ``decided_application`` goes the whole way through the decision tools.
Disbursement has no tool yet: the payments service will call ``confirm_disbursement`` from the
gateway's webhook, so the tests call the use case directly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.common import error_code
from tests.helpers.ledger import post, reserve
from tests.helpers.providers import onboard
from tests.helpers.risk import APPROVE, APPROVE_BUREAU, accept_offer, body, scored, uid, verify_kyc
from tools.ledger.domain.chart import account
from tools.loans import loans
from tools.platform.ports import Clock, Invocation
from tools.platform.principal import Principal, Role

ORIGINATE = "credit_originate_loan"
GET_LOAN = "credit_get_loan"
SCHEDULE = "credit_get_repayment_schedule"
REPAY = "credit_record_repayment"
QUOTE = "credit_quote_early_settlement"
AGE = "credit_age_loans"
WRITE_OFF = "credit_write_off_loan"
COMMISSION = "credit_calculate_commission"
STATEMENT = "credit_get_commission_statement"
REVENUE = "credit_get_platform_revenue"
RECONCILE = "admin_reconcile_ledger"
GET_APPLICATION = "credit_get_application"
SUBMIT = "credit_submit_application"

GATEWAY = Invocation(Principal("onasis-gateway", Role.SERVICE), "tests.confirm_disbursement", "0" * 64)


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str | None:
    return error_code(await client.call_tool(tool, args, raise_on_error=False))


async def lender(client: Client, principal: Any, **overrides: Any) -> dict[str, Any]:
    """A Nigerian bank onboarded by an operator (default plan: 8.5% of the principal)."""
    return dict((await onboard(client, principal, **overrides))["provider"])


async def approved_application(
    client: Client, principal: Any, db: asyncpg.Connection, **overrides: Any
) -> dict[str, Any]:
    """A borrower's application (250000.00 NGN, 12 months), moved to approved in SQL."""
    principal(uid("b"), Role.BORROWER)
    app = await call(client, SUBMIT, {"application": body(**overrides)})
    await db.execute(
        """
        WITH moved AS (
            UPDATE caas_core.applications SET status = 'approved', status_changed_at = now()
            WHERE id = $1 RETURNING id
        )
        INSERT INTO caas_core.application_transitions
            (application_id, from_status, to_status, actor_id, actor_role, reason)
        SELECT id, 'submitted', 'approved', 'tests', 'operator', 'arranged for a loan test' FROM moved
        """,
        uuid.UUID(app["id"]),
    )
    return dict(app)


async def decided_application(client: Client, principal: Any, db: asyncpg.Connection) -> dict[str, Any]:
    """The whole way: submitted, KYC verified, scored 790 (open for bids), offer accepted (SQL), approved."""
    principal(uid("b"), Role.BORROWER)
    app = await call(client, SUBMIT, {"application": body()})
    await verify_kyc(client, principal, app, "national_id", "proof_of_income")
    await scored(client, principal, app, APPROVE_BUREAU, uid("op-score"))
    await accept_offer(db, app, app["borrower_id"])
    principal(uid("op-approve"), Role.OPERATOR)
    result = await call(
        client, APPROVE, {"application": app["id"], "comment": "documents and income verified"}
    )
    assert result["status"] == "approved"
    return dict(app)


async def accept_bid(
    runtime: Runtime,
    db: asyncpg.Connection,
    app: dict[str, Any],
    provider: dict[str, Any],
    *,
    amount_minor: int = 25_000_000,
    annual_rate: str = "0.24",
    term_months: int = 12,
    fee_minor: int = 500_000,
    frequency: str = "monthly",
    method: str = "annuity",
    currency: str = "NGN",
) -> uuid.UUID:
    """The accepted bid, as accept_offer leaves it: one row, and the capital it reserved."""
    bid_id: uuid.UUID = await db.fetchval(
        """
        INSERT INTO caas_core.bids (application_id, provider_id, amount_minor, currency, annual_rate,
            term_months, origination_fee_minor, repayment_frequency, schedule_method, valid_until, status,
            created_by, accepted_at)
        VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8, $9, $10, 'accepted', 'tests', now())
        RETURNING id
        """,
        uuid.UUID(app["id"]),
        uuid.UUID(provider["id"]),
        amount_minor,
        currency,
        annual_rate,
        term_months,
        fee_minor,
        frequency,
        method,
        # Valid for a week of the platform's clock (a test may have moved it): a loan is made before.
        runtime.deps.loans.clock.now() + timedelta(days=7),
    )
    await db.execute(
        "UPDATE caas_core.providers SET capital_available_minor = capital_available_minor - $2 WHERE id = $1",
        uuid.UUID(provider["id"]),
        amount_minor,
    )
    await post(runtime, reserve(provider["id"], amount_minor, currency, source=str(bid_id)))
    return bid_id


async def originated(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection, **terms: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(loan, provider): a provider, an approved application, its accepted bid and the loan."""
    provider = await lender(client, principal, **terms.pop("provider", {}))
    app = await approved_application(client, principal, db)
    await accept_bid(runtime, db, app, provider, **terms)
    principal(uid("op-loans"), Role.OPERATOR)
    return await call(client, ORIGINATE, {"application": app["id"]}), provider


async def disburse(runtime: Runtime, loan: dict[str, Any], reference: str | None = None) -> dict[str, Any]:
    """What the gateway's webhook will do: confirm the payout of the net disbursement."""
    net = loan["net_disbursement"]
    view = await loans.confirm_disbursement(
        runtime.deps.loans,
        GATEWAY,
        loan["id"],
        reference or f"trf-{uuid.uuid4().hex[:12]}",
        Decimal(net["amount"]),
        net["currency"],
    )
    return view.model_dump(mode="json")


async def active_loan(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection, **terms: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    loan, provider = await originated(client, principal, runtime, db, **terms)
    return await disburse(runtime, loan), provider


async def defaulted(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection, clock: MovableClock
) -> dict[str, Any]:
    """An active loan 91 days past its first due date, aged: defaulted."""
    loan, _ = await active_loan(client, principal, runtime, db)
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + 91)
    principal(uid("op-aging"), Role.OPERATOR)
    await call(client, AGE, {})
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["status"] == "defaulted"
    return loan


def paid_at(clock: Clock, ago: timedelta = timedelta()) -> str:
    """A payment's time: the clock's now (moved by the test or not), ``ago`` earlier."""
    return (clock.now() - ago).isoformat()


def booked_on(loan: dict[str, Any]) -> date:
    """The day the ledger booked the loan's disbursement. Postings carry the database's time, which a
    moved clock does not move: a statement period is a day of the database's calendar."""
    return datetime.fromisoformat(loan["disbursed_at"]).astimezone(UTC).date()


async def balance(
    db: asyncpg.Connection, owner: str, purpose: str, owner_id: str | None, currency: str = "NGN"
) -> int:
    """An account's balance in its normal direction (0 before its first posting)."""
    acct = account(owner, purpose, currency, owner_id, "onasis" if purpose == "cash_clearing" else None)
    net = await db.fetchval(
        "SELECT balance_minor FROM caas_ledger.account_balances WHERE account_id = $1", acct.id
    )
    debit_normal = acct.kind.value in ("asset", "expense")
    return int(net or 0) * (1 if debit_normal else -1)


async def journals(db: asyncpg.Connection, *source_ids: str) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT kind, source_id FROM caas_ledger.journals WHERE source_id = ANY($1::text[]) "
        "ORDER BY created_at, kind",
        list(source_ids),
    )
    return [(r["kind"], r["source_id"]) for r in rows]


def minor(money: dict[str, str]) -> int:
    return int(Decimal(money["amount"]).scaleb(2))


def money(minor_units: int) -> dict[str, str]:
    return {"amount": str(Decimal(minor_units).scaleb(-2).quantize(Decimal("0.01"))), "currency": "NGN"}
