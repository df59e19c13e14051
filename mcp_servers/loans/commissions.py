"""Commission tools on the ``credit`` service: a preview, a provider's statement, the platform's revenue."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mcp_servers.params import Cursor, Limit
from mcp_servers.toolkit import ToolSet, deps, principal
from tools.loans import commissions
from tools.loans.domain.schedules import Frequency, Method
from tools.loans.models.commissions import CommissionPreviewView, CommissionStatement, PlatformRevenue
from tools.platform.models import Day, DecimalString, Identifier
from tools.platform.principal import Role

__all__ = ["TOOLS"]

# Previews and the platform's revenue are the platform's own business.
STAFF = frozenset({Role.OPERATOR, Role.ADMIN, Role.SERVICE})
# A provider reads its own statement: tools.marketplace.providers.can_see_provider answers not_found for any
# other.
STATEMENT_READERS = STAFF | {Role.PROVIDER}

ProviderId = Annotated[
    Identifier, Field(min_length=1, max_length=64, description="The provider's id (UUID).")
]
PeriodStart = Annotated[Day, Field(description="First day of the period (YYYY-MM-DD, UTC).")]
PeriodEnd = Annotated[Day, Field(description="Last day of the period, included (YYYY-MM-DD, UTC).")]


TOOLS = ToolSet()


@TOOLS.tool(roles=STAFF, title="Calculate a commission", read_only=True, idempotent=True)
async def calculate_commission(
    provider: ProviderId,
    amount: Annotated[
        DecimalString,
        Field(gt=0, description="The loan's principal in the provider's currency, major units."),
    ],
    annual_rate: Annotated[
        DecimalString | None,
        Field(default=None, ge=0, le=10, description="With term_months: also the share of the interest."),
    ] = None,
    term_months: Annotated[
        int | None,
        Field(default=None, ge=1, le=600, description="With annual_rate: the loan's term in months."),
    ] = None,
    repayment_frequency: Annotated[
        Frequency, Field(description="How often installments fall due: monthly, biweekly or weekly.")
    ] = Frequency.MONTHLY,
    schedule_method: Annotated[
        Method, Field(description="annuity (level installments), flat, or declining_balance.")
    ] = Method.ANNUITY,
) -> CommissionPreviewView:
    """Preview what a loan would earn the platform under a provider's commission plan; nothing is stored.

    The plan's rate on the principal (8.5% by default, or its currency tier applied to the whole
    amount), the performance adjustment from the provider's record (20+ loans), the plan's cap, and
    with annual_rate and term_months the plan's share of the schedule's total interest. Each line
    says how it was computed. Use before a bid or an onboarding to show what the platform earns.
    """
    return await commissions.calculate_commission(
        deps().loans,
        principal(),
        provider,
        amount,
        annual_rate,
        term_months,
        repayment_frequency,
        schedule_method,
    )


@TOOLS.tool(roles=STATEMENT_READERS, title="Get a commission statement", read_only=True, idempotent=True)
async def get_commission_statement(
    provider: ProviderId,
    period_start: PeriodStart,
    period_end: PeriodEnd,
    limit: Limit = 50,
    cursor: Cursor = None,
    currency: Annotated[
        str | None,
        Field(
            default=None,
            pattern=r"^[A-Z]{3}$",
            description="ISO 4217 code of the commission to state; default the provider's lending currency.",
        ),
    ] = None,
) -> CommissionStatement:
    """The commission a provider was charged in a period, from the ledger: at each disbursement, on
    the interest of each repayment, and any reversal, with the loan of every line.

    Use to invoice a provider or answer its questions about a month's commission. Every page carries
    the whole period's totals; its lines come a page at a time, oldest first: pass ``next_cursor``
    back as ``cursor`` with the same provider, period and currency; it is null on the last page. A
    statement is in one currency: ``other_currencies`` names those the provider was also charged in
    during the period (a lender that changed currency), each stated with ``currency``. A provider
    reads only its own: any other provider's id answers not_found, exactly like one that does not
    exist.
    """
    return await commissions.get_commission_statement(
        deps().loans, principal(), provider, (period_start, period_end), limit, cursor, currency
    )


@TOOLS.tool(roles=STAFF, title="Get the platform's revenue", read_only=True, idempotent=True)
async def get_platform_revenue(
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. NGN.")],
    period_start: PeriodStart,
    period_end: PeriodEnd,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> PlatformRevenue:
    """The platform's income in one currency for a period, from its ledger accounts: commission at
    disbursement, on interest, reversals, its own fees, and the commission by provider.

    Use for revenue reporting; each figure is a sum of ledger postings, so it reconciles. Every page
    carries the period's totals; the providers come a page at a time, largest commission first: pass
    ``next_cursor`` back as ``cursor`` with the same currency and period.
    """
    return await commissions.get_platform_revenue(
        deps().loans, currency, (period_start, period_end), limit, cursor
    )
