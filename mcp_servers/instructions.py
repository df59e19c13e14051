"""What a server tells an agent when it connects (``instructions``): the lifecycle of an application and
its loan, and which tools serve each stage, named as that server exposes them.

The stages follow the toolsets (a person's job). A server lists only the stages it serves and only its
own tools, so a single-service server never names a tool that lives elsewhere under a name it does not
have; ``ToolNames`` is the one place that decides how a tool is named on a server (the prompts use it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["STAGES", "ToolNames", "instructions"]

# (toolset, what happens there, its tools as (server, plain tool name)), in journey order.
STAGES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "apply",
        "draft, documents, submit, compare and accept offers",
        (
            ("credit", "draft_application"),
            ("documents", "request_document_upload"),
            ("credit", "submit_application"),
            ("providers", "compare_offers"),
            ("providers", "accept_offer"),
        ),
    ),
    (
        "underwrite",
        "score, review referrals, invite lenders, approve",
        (
            ("risk", "score_application"),
            ("credit", "list_review_queue"),
            ("credit", "review_application"),
            ("providers", "match_providers"),
            ("credit", "approve_application"),
        ),
    ),
    ("lend", "bids", (("providers", "list_invitations"), ("providers", "place_bid"))),
    (
        "service",
        "originate, pay out, collect, age",
        (
            ("credit", "originate_loan"),
            ("payments", "disburse_loan"),
            ("payments", "retry_disbursement"),
            ("payments", "collect_repayment"),
            ("credit", "age_loans"),
        ),
    ),
    (
        "ledger",
        "books, revenue",
        (("admin", "reconcile_ledger"), ("credit", "get_platform_revenue")),
    ),
    ("lenders", "onboarding", (("admin", "onboard_provider"),)),
    ("support", "notices, support", (("notifications", "open_support_conversation"),)),
    (
        "platform",
        "health, jobs, webhooks",
        (("admin", "platform_health"), ("admin", "list_webhook_deliveries")),
    ),
    (
        "monitor",
        "dashboard",
        (("monitoring", "get_pipeline_health"),),
    ),
)

_LIFECYCLE = (
    "Application: draft -> submitted -> under_review | open_for_bids | declined -> offer_accepted -> "
    "approved -> disbursed. Loan: pending_disbursement -> active | cancelled; active -> closed | "
    "delinquent -> defaulted -> written_off."
)


class ToolNames:
    """How the server built for ``service`` (None: the composed one) names a tool of ``server``."""

    def __init__(self, service: str | None, services: Iterable[str]) -> None:
        self.service = service
        self.services = frozenset(services)

    def serves(self, server: str) -> bool:
        return self.service is None or self.service == server

    def __call__(self, server: str, tool: str) -> str:
        """The name to call, in backticks; a tool of another server is named with its server and
        without backticks, so that no text suggests calling here what is not here."""
        if server not in self.services:  # pragma: no cover - a typo in a prompt or a stage
            raise ValueError(f"no server {server}")
        if self.service is None:
            return f"`{server}_{tool}`"
        if self.service == server:
            return f"`{tool}`"
        return f"{tool} (on the caas-{server} server)"


def instructions(service: str | None, services: Mapping[str, object]) -> str:
    """The ``instructions`` of the composed server (``service=None``) or of one service."""
    names = ToolNames(service, services)
    lines = [
        "CaaS: a credit marketplace."
        + (" Tools are named <server>_<tool>." if service is None else f" This is the {service} server."),
        _LIFECYCLE,
        "Toolsets (journey order) and main tools:",
    ]
    for toolset, purpose, tools in STAGES:
        own = [names(server, tool) for server, tool in tools if names.serves(server)]
        if own:
            lines.append(f"- {toolset}: {purpose}: {', '.join(own)}")
    lines.append(
        "Amounts: decimal strings in an ISO 4217 currency; money moves take an idempotency_key. "
        "Errors carry a stable code and how to fix the call. Prompts guide whole jobs."
    )
    return "\n".join(lines)
