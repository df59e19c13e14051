"""Ledger tools: balances, statements, journals, reconciliation and reversal (hosted on ``admin``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastmcp import Context
from pydantic import Field

from mcp_servers.params import Cursor, Limit
from mcp_servers.platform.progress import reporter, tell
from mcp_servers.toolkit import ToolSet, deps, invocation, principal
from tools.ledger import ledger, reversals
from tools.ledger.models import AccountBalanceView, AccountStatement, JournalView, ReconciliationReport
from tools.platform.models import FreeText, Identifier, Moment
from tools.platform.principal import Role

__all__ = ["TOOLS"]

# Providers read their own provider's accounts only; the use cases enforce it.
BALANCE_READERS = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE, Role.PROVIDER})
STAFF = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})

AccountHandle = Annotated[
    Identifier,
    Field(
        min_length=1,
        max_length=400,
        description="An account code, <owner>[:<owner id>]:<purpose>[:<qualifier>]:<currency> (e.g. "
        "provider:p-7:capital_available:NGN, loan:<loan id>:principal_receivable:NGN, "
        "platform:commission_income:NGN), or the account's id.",
    ),
]
JournalId = Annotated[UUID, Field(description="The journal's id (journal_id in a statement).")]


TOOLS = ToolSet()


@TOOLS.tool(roles=BALANCE_READERS, title="Get an account balance", read_only=True, idempotent=True)
async def get_account_balance(
    account: AccountHandle,
    as_of: Annotated[
        Moment | None,
        Field(default=None, description="Balance at this moment (ISO 8601 with offset); default now."),
    ] = None,
) -> AccountBalanceView:
    """The balance of one ledger account, now or as of a past moment.

    Use to answer "how much capital does provider p-7 have free to lend?" or "what does this loan
    still owe?". ``balance`` reads in the account's normal direction (positive is normal for every
    kind); ``net_debit_minor`` is debits minus credits in minor units. Providers may read only
    provider:<their id>:... accounts.
    """
    return await ledger.get_account_balance(deps().ledger, principal(), account, as_of)


@TOOLS.tool(roles=BALANCE_READERS, title="List an account's postings", read_only=True, idempotent=True)
async def list_account_postings(
    account: AccountHandle,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> AccountStatement:
    """An account statement: its current balance and its postings, newest first, a page at a time.

    Use to explain a balance: each posting names its journal, the movement (kind and source) and
    the memo. Pass ``next_cursor`` back as ``cursor``; it is null on the last page.
    """
    return await ledger.list_account_postings(deps().ledger, principal(), account, limit, cursor)


@TOOLS.tool(roles=STAFF, title="Get a journal", read_only=True, idempotent=True)
async def get_journal(journal: JournalId) -> JournalView:
    """One journal with all its postings, and the reversal that undid it, if any.

    Use before reverse_journal, to see exactly what a reversal would negate.
    """
    return await ledger.get_journal(deps().ledger, journal)


@TOOLS.tool(
    roles={Role.OPERATOR, Role.ADMIN},
    title="Reconcile the ledger",
    read_only=True,
    idempotent=True,
)
async def reconcile_ledger(
    ctx: Context,
    full: Annotated[
        bool,
        Field(
            description="Recompute every balance from every posting (an audit; reads the whole ledger). "
            "By default only what was posted since the last run is summed."
        ),
    ] = False,
) -> ReconciliationReport:
    """Check every cached account balance against its postings and report any balance that differs.

    Use on a schedule or after an incident. By default a run checks each cached balance against the
    sums the last run verified plus the journals posted since (``mode`` incremental, ``since`` that
    run); ``full`` recomputes everything, as the first run does. ``consistent`` is true when nothing
    differs and every journal checked balances; each difference names the account, both figures and
    cached minus computed. No balance is changed (a run only records how far it verified): a
    difference means the balance cache was written outside the ledger.
    """
    what = "every balance from its postings" if full else "the balances against what was posted since"
    await reporter(ctx)(0, 1, f"checking {what}")
    report = await ledger.reconcile_ledger(deps().ledger, full)
    await reporter(ctx)(
        1, 1, f"checked {report.accounts_checked} accounts, {report.journals_checked} journals"
    )
    if report.consistent:
        await tell(ctx, "info", f"the ledger reconciles: {report.accounts_checked} accounts checked")
    else:
        await tell(
            ctx,
            "error",
            f"the ledger does not reconcile: {report.differences_total} balances differ, "
            f"{len(report.unbalanced_journals)} journals do not balance",
        )
    return report


# Not destructive (it only appends) and idempotent in effect: a second reversal of the same journal
# is refused as a conflict and changes nothing.
@TOOLS.tool(roles={Role.ADMIN}, title="Reverse a journal", read_only=False, idempotent=True, confirm=True)
async def reverse_journal(
    journal: JournalId,
    reason: Annotated[
        FreeText, Field(min_length=10, max_length=500, description="Mandatory: why the journal was wrong.")
    ],
) -> JournalView:
    """Correct a posted journal by posting its reversal: every posting negated, balances restored.

    Use when a capital deposit, a capital withdrawal or a commission was posted in error, or when the
    money of a suspense journal (a payment its loan refused) was refunded to its payer through the
    gateway, or the money of a payout_recovery journal (a payout no loan took, such as a duplicate)
    is back (one written off with write_off_payout: reverse its payout_loss journal first); journals
    are never edited or deleted. Any other kind (a reservation, a payout, a
    repayment, a fee...) is held by its offer, loan or payment too and is a conflict here: correct it
    through their tools. A journal is reversed at most once (again: conflict). A capital reversal
    moves the lender's available capital, which matching reads, with it: a conflict when that much is
    no longer available (reserved or lent) or when the lender has since changed currency. A
    commission reversal takes it off the loan's commission earned too. Returns the reversing journal.
    """
    return await reversals.reverse_journal(deps().ledger, invocation(), journal, reason)
