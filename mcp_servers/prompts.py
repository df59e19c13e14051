"""Prompts for the jobs people ask an agent to do, each on the composed server and on the servers
that carry its tools, naming tools as that server exposes them (``mcp_servers.instructions.ToolNames``).

``explain_decision`` and ``choose_offer`` read the real notice and the real comparison through the use
cases, as the caller: someone else's application is not_found, exactly as the tools answer.
"""

# No ``from __future__ import annotations``: fastmcp converts a prompt's string arguments with a
# TypeAdapter of each parameter's annotation, which must be the type itself, not its name.
import calendar
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from mcp_servers.instructions import ToolNames
from mcp_servers.params import ApplicationHandle
from mcp_servers.prompt_arguments import refused
from mcp_servers.toolkit import current_runtime
from tools.credit import decisions
from tools.marketplace import offers
from tools.marketplace.models.bids import OfferComparison
from tools.platform.errors import DomainError
from tools.platform.models import CurrencyCode, DecimalString, Line
from tools.risk.models import AdverseActionNoticeView

__all__ = ["HOMES", "register_prompts"]

# Prompt -> the single-service servers that carry it (the composed server carries every prompt).
HOMES: dict[str, tuple[str, ...]] = {
    "process_application": ("credit",),
    "explain_decision": ("credit",),
    "choose_offer": ("providers",),
    "onboard_lender": ("admin",),
    "daily_servicing": ("admin", "payments"),
    "month_end_revenue": ("credit", "admin"),
}

OptionalApplication = Annotated[
    ApplicationHandle | None,
    Field(description="A draft to continue: its id or CAAS-YYYY-NNNNNN reference. Leave out to start one."),
]
Amount = Annotated[DecimalString | None, Field(description='Requested amount, e.g. "500000".')]
Term = Annotated[int | None, Field(ge=1, le=360, description="Requested term in months.")]
LenderName = Annotated[Line, Field(min_length=2, max_length=120, description="The lender's name.")]
WebhookUrl = Annotated[
    Line | None, Field(max_length=500, description="Where it receives invitations (https).")
]
OnlyCurrency = Annotated[CurrencyCode | None, Field(description="Only this currency.")]
DaysPastDue = Annotated[int, Field(ge=1, le=365, description="Arrears threshold in days.")]
# ASCII digits and the years the revenue tools take (tools.platform.models.EARLIEST_DAY..LATEST_DAY):
# year 0 made the prompt an internal error, and a month those tools refuse is no help to an agent.
Month = Annotated[
    str,
    Field(
        pattern=r"^(19[7-9][0-9]|20[0-9]{2}|21[0-9]{2})-(0[1-9]|1[0-2])$",
        description="The month, YYYY-MM, from 1970-01 to 2199-12.",
    ),
]


async def _as_caller(read: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    runtime = current_runtime()
    try:
        return await read(runtime.deps, runtime.principals.current())
    except DomainError as exc:
        # The tools' answer, as invalid params (-32602): a caller's mistake, no traceback logged.
        raise refused(f"{exc.code}: {exc}") from None


def _money(m: Any) -> str:
    return f"{m.currency} {m.amount:,}"


def process_application_text(
    t: ToolNames, application: str | None, amount: Decimal | None, currency: str, term_months: int | None
) -> str:
    start = (
        f"Continue draft {application}: read it with {t('credit', 'get_application')}, fill the gaps."
        if application
        else f"Start with {t('credit', 'draft_application')}."
    )
    wanted = f"{currency} {amount:,}" if amount is not None else f"an amount in {currency} (ask)"
    term = f"{term_months} months" if term_months else "a term in months (ask)"
    return f"""Take a borrower's loan application from draft to open_for_bids. They want {wanted} over {term}.
{start}
Ask the borrower, one question at a time: full name, date of birth, national ID, phone and email;
employment and monthly income, monthly debt payments; the purpose of the loan; the bank account to
be paid into. Save each answer with {t("credit", "update_application")}; never invent a value.
Documents: for identity and income proof call {t("documents", "request_document_upload")}, give the
borrower the upload URL, then {t("documents", "register_document")}; {t("documents", "list_documents")}
shows what is there. Before submitting, {t("risk", "simulate_score")} shows the likely grade.
Submit with {t("credit", "submit_application")} once the borrower confirms every field. Scoring
follows: {t("credit", "get_application_timeline")} shows the decision. open_for_bids means lenders
are invited; under_review means an operator decides; declined comes with a notice
({t("credit", "get_adverse_action_notice")}), to explain in plain words."""


def explain_decision_text(t: ToolNames, notice: AdverseActionNoticeView) -> str:
    reasons = "\n".join(f"{i}. {r.message} (code {r.code})" for i, r in enumerate(notice.reasons, 1))
    return f"""Explain to the borrower, in plain words and without blame, why application {notice.reference}
was declined. This is the adverse-action notice, issued {notice.issued_at:%Y-%m-%d}
(read again with {t("credit", "get_adverse_action_notice")}):

Principal reasons, most important first:
{reasons or "(none recorded)"}

Notice text:
{notice.notice_text}

Say what each reason means for them and what they could change (income, debts, documents) before
applying again; keep their rights stated in the notice; never promise a different outcome. For the
steps the application went through, see {t("credit", "get_application_timeline")}."""


def choose_offer_text(t: ToolNames, comparison: OfferComparison) -> str:
    rows = "\n".join(
        f"{o.rank}. {o.bid.provider_name} (bid {o.bid.id}): APR {o.apr_percent}%, "
        f"installment {_money(o.installment)} x {o.installments}, total of payments "
        f"{_money(o.total_of_payments)}, cost of credit {_money(o.finance_charge)}, "
        f"amount financed {_money(o.amount_financed)}. {o.why}"
        for o in comparison.offers
    )
    excluded = "".join(f"\nNot acceptable now: {e.provider_name}: {e.reason}" for e in comparison.excluded)
    return f"""Help the borrower choose an offer on {comparison.reference}
({_money(comparison.requested_amount)} over {comparison.term_months} months). The live offers from
{t("providers", "compare_offers")} at {comparison.compared_at:%Y-%m-%d %H:%M} UTC, best first:
{rows or "(no live offers yet)"}{excluded}

{comparison.explanation}
Explain APR (the yearly cost, fees included, comparable across offers) and the total cost of credit
(what they pay beyond what they receive), and that the amount financed is what reaches their account.
Let the borrower choose; do not choose for them. Then {t("providers", "accept_offer")} with that bid's
id and a new idempotency_key. It needs the person's confirmation."""


def onboard_lender_text(t: ToolNames, lender_name: str, currency: str, webhook_url: str | None) -> str:
    hook = f"webhook URL {webhook_url}" if webhook_url else "its webhook URL (ask the lender)"
    return f"""Onboard the lender "{lender_name}", lending in {currency}.
Gather from the lender: legal name and type, the countries it lends in, min and max amount and
capital available in {currency}, terms in months, grades accepted, min score, max debt-to-income,
its rate range, and {hook}. Check the name is new with {t("admin", "list_providers")}.
Call {t("admin", "onboard_provider")} once. Its result holds the webhook signing secret ONCE: hand it
to the lender over a secure channel and never write it into the conversation log again.
Confirm with {t("admin", "get_provider")}; correct limits with {t("admin", "update_provider")};
a lost secret is replaced with {t("admin", "rotate_provider_secret")}. The lender then sees
invitations with {t("providers", "list_invitations")} and bids with {t("providers", "place_bid")}."""


def daily_servicing_text(t: ToolNames, currency: str | None, min_days_past_due: int) -> str:
    scope = f"{currency} loans" if currency else "loans in every currency"
    return f"""Run the daily servicing round for {scope}; report what you found and did, item by item.
1. {t("admin", "platform_health")}: anything under attention (databases, lag, failed jobs, breakers) first.
2. {t("credit", "age_loans")}: move overdue loans on; then {t("credit", "list_loans")} with status
   delinquent and defaulted: list each loan {min_days_past_due} or more days past due, amount overdue.
3. Failed payouts: {t("payments", "list_payments")} with kind disbursement and status failed; for each
   loan still pending_disbursement, read the error, then {t("payments", "retry_disbursement")} with a new
   idempotency_key (never reverse a journal for it). Payouts stuck at sent: {t("payments", "verify_payment")}.
4. Webhook failures: {t("admin", "list_webhook_deliveries")} (failed), then
   {t("admin", "retry_webhook_delivery")} once the lender's endpoint answers.
5. {t("admin", "reconcile_ledger")}: it must say consistent; if not, stop and escalate."""


def month_end_revenue_text(t: ToolNames, month: str, currency: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    first, last = date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])
    return f"""Close {month} revenue in {currency} (period {first} to {last}, inclusive).
1. {t("admin", "reconcile_ledger")}: the books must be consistent before any figure is reported.
2. {t("credit", "get_platform_revenue")} with currency {currency}, period_start {first}, period_end {last}:
   commission at disbursement, on interest, reversals, fees, and commission by provider.
3. For each provider in that breakdown, {t("credit", "get_commission_statement")} for the same period,
   to invoice it; {t("admin", "list_providers")} names them.
4. Report: totals per kind, per provider, and any reversal with its loan. Figures are ledger sums."""


def register_prompts(server: FastMCP, service: str | None, services: Mapping[str, object]) -> None:
    """The prompts of the composed server (``service=None``) or of one service."""
    t = ToolNames(service, services)

    def wanted(name: str) -> bool:
        return service is None or service in HOMES[name]

    if wanted("process_application"):

        @server.prompt(name="process_application", title="Process a loan application")
        def process_application(
            application: OptionalApplication = None,
            amount: Amount = None,
            currency: CurrencyCode = "NGN",
            term_months: Term = None,
        ) -> str:
            """Take an application from draft to open_for_bids: what to ask the borrower, which
            documents to collect, and when to submit."""
            return process_application_text(t, application, amount, currency, term_months)

    if wanted("explain_decision"):

        @server.prompt(name="explain_decision", title="Explain a declined application")
        async def explain_decision(application: ApplicationHandle) -> str:
            """Explain an adverse decision in plain words, from the application's adverse-action notice."""
            notice = await _as_caller(
                lambda deps, who: decisions.get_adverse_action_notice(deps.credit, who, application)
            )
            return explain_decision_text(t, notice)

    if wanted("choose_offer"):

        @server.prompt(name="choose_offer", title="Choose an offer")
        async def choose_offer(application: ApplicationHandle) -> str:
            """Compare the live offers on an application (APR, total cost) and help the borrower choose."""
            comparison = await _as_caller(
                lambda deps, who: offers.compare_offers(deps.marketplace, who, application)
            )
            return choose_offer_text(t, comparison)

    _register_back_office(server, t, wanted)


def _register_back_office(server: FastMCP, t: ToolNames, wanted: Callable[[str], bool]) -> None:
    if wanted("onboard_lender"):

        @server.prompt(name="onboard_lender", title="Onboard a lender")
        def onboard_lender(
            lender_name: Annotated[
                Line, Field(min_length=2, max_length=120, description="The lender's name.")
            ],
            currency: CurrencyCode,
            webhook_url: Annotated[
                Line | None, Field(max_length=500, description="Where it receives invitations (https).")
            ] = None,
        ) -> str:
            """Onboard a lender: what to gather, the one-time webhook secret, and checking the result."""
            return onboard_lender_text(t, lender_name, currency, webhook_url)

    if wanted("daily_servicing"):

        @server.prompt(name="daily_servicing", title="Daily servicing round")
        def daily_servicing(
            currency: OnlyCurrency = None,
            min_days_past_due: DaysPastDue = 1,
        ) -> str:
            """The operator's daily round: health, aging and arrears, failed payouts, webhook failures."""
            return daily_servicing_text(t, currency, min_days_past_due)

    if wanted("month_end_revenue"):

        @server.prompt(name="month_end_revenue", title="Month-end revenue")
        def month_end_revenue(month: Month, currency: CurrencyCode) -> str:
            """Close a month's revenue: reconcile, platform revenue, and each provider's commission."""
            return month_end_revenue_text(t, month, currency)
