"""What a lender is charged stays readable in the currency it was charged in (a probe's finds): a lender
that moved from NGN to KES still gets the period's NGN commission statement, told which currencies to
ask for; its benchmark volume counts only loans in the currency it is labelled with; a reversal's line
names its loan; and the borrower does not read the commission the platform charges the lender.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastmcp import Client

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.common import error_code
from tests.helpers.errors import error_message
from tests.helpers.loans import GET_LOAN, QUOTE, REPAY, STATEMENT, active_loan, call, minor, paid_at
from tests.helpers.providers import UPDATE
from tests.helpers.risk import uid
from tools.platform.principal import Role

BENCHMARKS = "monitoring_list_provider_benchmarks"
COMMISSION_MINOR = 2_125_000  # 8.5% of 250000.00 NGN, the default plan, at disbursement


async def paid_off_and_moved_to_kes(
    client: Client, principal: Any, runtime: Runtime, db: asyncpg.Connection, clock: MovableClock
) -> tuple[dict[str, Any], str]:
    loan, provider = await active_loan(client, principal, runtime, db)
    principal(loan["borrower_id"], Role.BORROWER)
    quote = await call(client, QUOTE, {"loan": loan["id"]})
    principal(uid("svc"), Role.SERVICE)
    payoff = {"loan": loan["id"], "amount": quote["total"]["amount"], "paid_at": paid_at(clock)}
    assert (await call(client, REPAY, {**payoff, "reference": uid("p")}))["loan_status"] == "closed"
    principal(uid("op"), Role.OPERATOR)
    changes = {
        "currency": "KES",
        "min_amount": "5000.00",
        "max_amount": "900000.00",
        "capital_available": "0.00",
    }
    assert (await call(client, UPDATE, {"provider": provider["id"], "changes": changes}))["currency"] == "KES"
    return loan, provider["id"]


def today() -> dict[str, str]:
    day = datetime.now(UTC).date().isoformat()
    return {"period_start": day, "period_end": day}


async def test_a_lender_that_changed_currency_is_still_stated_what_it_was_charged_before(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    loan, provider = await paid_off_and_moved_to_kes(client, principal, runtime, core_db, clock)
    principal(uid("op"), Role.OPERATOR)
    now = await call(client, STATEMENT, {"provider": provider, **today()})
    assert (now["currency"], minor(now["total"]), now["other_currencies"]) == ("KES", 0, ["NGN"])

    before = await call(client, STATEMENT, {"provider": provider, **today(), "currency": "NGN"})
    assert before["currency"] == "NGN" and before["other_currencies"] == []
    assert minor(before["at_disbursement"]) == COMMISSION_MINOR
    assert minor(before["total"]) == COMMISSION_MINOR + minor(before["interest_share"])
    assert {line["loan_id"] for line in before["lines"]} == {loan["id"]}


async def test_benchmark_volume_counts_only_loans_in_the_currency_it_is_labelled_with(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection, clock: MovableClock
) -> None:
    _, provider = await paid_off_and_moved_to_kes(client, principal, runtime, core_db, clock)
    principal(uid("op"), Role.OPERATOR)
    rows, cursor = [], None
    while True:
        page = await call(
            client, BENCHMARKS, {"currency": "KES", "limit": 100} | ({"cursor": cursor} if cursor else {})
        )
        rows += page["providers"]
        if (cursor := page["next_cursor"]) is None:
            break
    [mine] = [r for r in rows if r["provider_id"] == provider]
    assert mine["loans"] == 1  # its record counts every loan it made
    assert mine["volume"] == {"amount": "0.00", "currency": "KES"}  # it never lent a shilling


async def test_a_reversed_commission_line_names_its_loan(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    journal = await core_db.fetchval(
        "SELECT id FROM caas_ledger.journals WHERE kind = 'commission' AND source_id = $1", loan["id"]
    )
    principal(uid("admin"), Role.ADMIN)
    await call(client, "admin_reverse_journal", {"journal": str(journal), "reason": "commission waived"})
    principal(uid("op"), Role.OPERATOR)
    statement = await call(client, STATEMENT, {"provider": provider["id"], **today()})
    lines = [(line["kind"], line["loan_id"]) for line in statement["lines"]]
    assert lines == [("disbursement", loan["id"]), ("reversal", loan["id"])]
    assert minor(statement["total"]) == 0


async def test_the_borrower_does_not_read_the_commission_charged_to_the_lender(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    loan, provider = await active_loan(client, principal, runtime, core_db)
    principal(loan["borrower_id"], Role.BORROWER)
    assert (await call(client, GET_LOAN, {"loan": loan["id"]}))["commission_earned"] is None
    principal(uid("lender-user"), Role.PROVIDER, provider["id"])
    assert (
        minor((await call(client, GET_LOAN, {"loan": loan["id"]}))["commission_earned"]) == COMMISSION_MINOR
    )
    principal(uid("op"), Role.OPERATOR)
    assert (
        minor((await call(client, GET_LOAN, {"loan": loan["id"]}))["commission_earned"]) == COMMISSION_MINOR
    )


async def test_a_currency_no_account_can_be_in_is_refused_not_internal(
    client: Client, principal: Any, runtime: Runtime, core_db: asyncpg.Connection
) -> None:
    """A probe's find: XYZ (no such code) and XAU (no minor unit) passed the three-letter pattern and
    broke building the ledger account: internal."""
    _, provider = await active_loan(client, principal, runtime, core_db)
    principal(uid("op"), Role.OPERATOR)
    for code in ("XYZ", "XAU"):
        args = {"provider": provider["id"], **today(), "currency": code}
        refused = await client.call_tool(STATEMENT, args, raise_on_error=False)
        assert error_code(refused) == "invalid_argument", code
        assert code in error_message(refused)
        listed = await client.call_tool(BENCHMARKS, {"currency": code}, raise_on_error=False)
        assert error_code(listed) == "invalid_argument", code  # as the benchmarks refuse it
