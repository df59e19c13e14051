"""Toolsets: the tools grouped by the job a person does with them, and which of them a connection sees.

A tool is in exactly one toolset (``TOOLSETS``, keyed by the tool's plain name, as a single-service
server lists it). The composed server shows each role its ``ROLE_DEFAULTS`` unless the deployment
(``caas serve --toolsets`` / ``CAAS_TOOLSETS``) or the connection (``X-CaaS-Toolsets``) chooses;
read-only (``--read-only`` / ``CAAS_READ_ONLY`` / ``X-CaaS-Read-Only: true``) leaves only the tools
annotated ``readOnlyHint``. The role gate still applies inside: a toolset never opens a tool to a role.

``dynamic`` (GitHub's MCP server's mode) starts a connection with only ``list_toolsets`` and
``enable_toolset`` (and the always-shown toolsets); ``enable_toolset`` adds a toolset for the rest of
the session, kept in the session's state, and tells the client its tool list changed. A connection
without a session (2026-07-28 requests, stateless Streamable HTTP) cannot keep that, so it names its
toolsets in ``X-CaaS-Toolsets`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_servers.platform.dispatch import DirectCallTool
from mcp_servers.platform.request_context import request_headers
from mcp_servers.session_state import enabled_in_session
from tools.platform.errors import NotFound, PermissionDenied
from tools.platform.principal import Role

if TYPE_CHECKING:
    from fastmcp.server.middleware import CallNext, MiddlewareContext
    from fastmcp.tools import FunctionTool
    from mcp_types import CallToolRequestParams, ListToolsRequest
    from starlette.types import ASGIApp, Receive, Scope, Send

    from mcp_servers.platform.auth import PrincipalSource

__all__ = [
    "HEADER",
    "META",
    "META_TOOLS",
    "READ_ONLY_HEADER",
    "ROLE_DEFAULTS",
    "TOOLSETS",
    "Selection",
    "ToolsetError",
    "ToolsetGate",
    "ToolsetHeaders",
    "View",
    "dynamic_refused",
    "parse_read_only",
    "parse_toolsets",
]

HEADER = "x-caas-toolsets"
READ_ONLY_HEADER = "x-caas-read-only"
ALL, DEFAULT, DYNAMIC = "all", "default", "dynamic"
# The tools that choose toolsets: shown only on a dynamic connection, whatever else it shows.
META = "dynamic"
META_TOOLS = frozenset({"list_toolsets", "enable_toolset"})
_KEYWORDS = (ALL, DEFAULT, DYNAMIC)


@dataclass(frozen=True, slots=True)
class Toolset:
    """A person's job: what it is for (shown in docs and errors) and the tools it needs."""

    purpose: str
    tools: tuple[str, ...]


def _set(purpose: str, tools: str) -> Toolset:
    return Toolset(purpose, tuple(tools.split()))


# Read along the journey (docs/lifecycle.md): a borrower or an agent files and chooses an offer; an
# operator underwrites and runs the marketplace; a lender bids; the loan is held, serviced, booked.
TOOLSETS: dict[str, Toolset] = {
    "apply": _set(
        "file an application with its documents, follow it, and choose an offer (borrower, agent)",
        "draft_application update_application submit_application withdraw_application get_application "
        "list_applications get_application_timeline get_adverse_action_notice request_document_upload "
        "register_document list_documents simulate_score compare_offers accept_offer",
    ),
    "underwrite": _set(
        "review queue, documents, scores, decisions, matching, inviting lenders, closing bids (operator)",
        "list_review_queue review_application approve_application verify_document score_application "
        "score_applications_batch get_risk_assessment match_providers invite_providers "
        "close_bidding",
    ),
    "lend": _set(
        "a lender's invitations, bids with their cost previewed, its capital and commission statements "
        "(provider)",
        "list_invitations decline_invitation preview_bid place_bid revise_bid withdraw_bid list_bids "
        "get_commission_statement get_provider_capital",
    ),
    "loans": _set(
        "a loan: its schedule, quotes to prepay or settle, its payments, and paying it (borrower, lender)",
        "get_loan list_loans get_repayment_schedule quote_prepayment quote_early_settlement "
        "collect_repayment get_payment list_payments",
    ),
    "service": _set(
        "back-office servicing: originate, disburse (and retry a failed payout), cancel a loan never paid "
        "out, verify payments, record repayments, age, write off a loan or a payout no loan took",
        "originate_loan disburse_loan retry_disbursement cancel_loan verify_payment record_repayment "
        "age_loans write_off_loan write_off_payout",
    ),
    "ledger": _set(
        "the books: balances, journals, postings, reconciliation, reversals, commission and revenue",
        "get_account_balance get_journal list_account_postings reconcile_ledger reverse_journal "
        "calculate_commission get_platform_revenue",
    ),
    "lenders": _set(
        "lender administration: onboard, update, suspend, reactivate, look up, rotate webhook secrets",
        "onboard_provider update_provider suspend_provider reactivate_provider get_provider list_providers "
        "rotate_provider_secret",
    ),
    "support": _set(
        "notifications, their preferences, and support conversations",
        "list_notifications mark_notification_read get_notification_preferences set_notification_preferences "
        "open_support_conversation get_support_conversation list_support_conversations post_support_message "
        "close_support_conversation",
    ),
    "monitor": _set(
        "the dashboard: pipeline health and stuck applications, lender benchmarks, revenue by month, tool "
        "latency and errors, the Supabase sync (operator, admin)",
        "get_pipeline_health list_provider_benchmarks get_revenue_by_month get_system_performance "
        "get_sync_status",
    ),
    "confirm": _set(
        "money moves waiting for a person: list them, confirm or decline one; in every view",
        "confirm_action list_pending_actions decline_action",
    ),
    "platform": _set(
        "housekeeping: the platform's health, webhook deliveries to lenders and their retries, expiring "
        "stale applications",
        "platform_health list_webhook_deliveries retry_webhook_delivery expire_stale_applications",
    ),
}

# Toolsets in every connection's view, whatever was chosen.
ALWAYS = frozenset({"confirm"})

# What each role sees on the composed server when nobody chose: the start of that role's job, within
# 40 tools and 20,000 tokens of tools/list (tests/mcp_servers/test_toolsets.py measures it).
ROLE_DEFAULTS: dict[Role, tuple[str, ...]] = {
    Role.BORROWER: ("apply",),
    Role.AGENT: ("apply",),
    Role.PROVIDER: ("lend", "loans", "ledger"),
    Role.OPERATOR: ("underwrite", "service", "platform", "monitor"),
    Role.ADMIN: ("ledger", "lenders", "platform", "monitor"),
    # An integration (the Onasis gateway) files for its users and drives intake; it enables the rest.
    Role.SERVICE: ("apply", "underwrite", "platform"),
}

_OF_TOOL = {tool: name for name, toolset in TOOLSETS.items() for tool in toolset.tools}


class ToolsetError(ValueError):
    """A toolset selection that names no toolset, or one the server does not serve."""


def toolset_of(tool: str) -> str | None:
    """The toolset of a tool's plain name (None for a tool no toolset lists, which build_server refuses)."""
    return META if tool in META_TOOLS else _OF_TOOL.get(tool)


def parse_toolsets(value: str, allowed: Iterable[str] | None = None) -> frozenset[str] | None:
    """The toolsets a comma-separated selection names (``all`` = every allowed one); None when it is
    empty or only ``default`` (the role's defaults). ``default`` may be combined: ``default,ledger``;
    so may ``dynamic`` (kept in the set: the connection may enable more as it goes)."""
    pool = tuple(allowed) if allowed is not None else tuple(TOOLSETS)
    names = [item.strip().lower() for item in value.split(",") if item.strip()]
    if not names or names == [DEFAULT]:
        return None
    unknown = [n for n in names if n not in pool and n not in _KEYWORDS]
    if unknown:
        what = "is not served here" if unknown[0] in TOOLSETS else "is no toolset"
        raise ToolsetError(
            f"{unknown[0][:40]!r} {what}; valid toolsets: {', '.join(pool)} (or all, default, dynamic)"
        )
    chosen = set(pool) if ALL in names else {n for n in names if n not in _KEYWORDS}
    if DEFAULT in names and ALL not in names:
        chosen.add(DEFAULT)
    return frozenset(chosen | ({DYNAMIC} if DYNAMIC in names else set()))


def dynamic_refused(value: str, service: str | None) -> str | None:
    """Why a server of ``service`` cannot serve the selection ``value`` dynamically (None: it can):
    list_toolsets and enable_toolset are on the composed server and caas-admin only."""
    if service in (None, "admin") or DYNAMIC not in (parse_toolsets(value) or ()):
        return None
    return (
        "CAAS_TOOLSETS: dynamic needs list_toolsets and enable_toolset, which only the composed server "
        "and --service admin carry; serve without --service, or name the toolsets"
    )


def parse_read_only(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise ToolsetError(f"X-CaaS-Read-Only must be true or false, not {value[:40]!r}")


@dataclass(frozen=True, slots=True)
class Selection:
    """The deployment's choice: ``toolsets`` None shows each role its defaults (composed server) or
    every tool (a single-service server, whose service already is the choice); the chosen toolsets
    are also the most a connection's header may ask for."""

    toolsets: frozenset[str] | None = None
    read_only: bool = False
    role_defaults: bool = True

    @property
    def ceiling(self) -> tuple[str, ...]:
        """What a connection may see at most: everything, unless the deployment named toolsets (a
        dynamic deployment's names are where its connections start, not a limit)."""
        if self.toolsets is None or DEFAULT in self.toolsets or DYNAMIC in self.toolsets:
            return tuple(TOOLSETS)
        return tuple(name for name in TOOLSETS if name in self.toolsets)

    def dynamic(self, header: frozenset[str] | None) -> bool:
        chosen = header if header is not None else self.toolsets
        return chosen is not None and DYNAMIC in chosen

    def visible(
        self, role: Role, header: frozenset[str] | None, enabled: frozenset[str] = frozenset()
    ) -> frozenset[str]:
        """The toolsets a connection of ``role`` sees, given its header's choice (None: none made) and,
        on a dynamic connection, those its session enabled. ``ALWAYS`` is in every view: a person
        asked to confirm a money move can always do so."""
        chosen = header if header is not None else self.toolsets
        if chosen is None:
            return frozenset(ROLE_DEFAULTS[role] if self.role_defaults else TOOLSETS) | ALWAYS
        named = set(chosen - {DEFAULT, DYNAMIC})
        if DEFAULT in chosen:
            named |= set(ROLE_DEFAULTS[role] if self.role_defaults else TOOLSETS)
        meta: frozenset[str] = frozenset()
        if DYNAMIC in chosen:
            named |= enabled
            meta = frozenset({META})
        return (frozenset(named) & frozenset(self.ceiling)) | ALWAYS | meta


@dataclass(frozen=True, slots=True)
class View:
    """What one connection sees: its toolsets, whether it is read-only and whether it is dynamic."""

    toolsets: frozenset[str]
    read_only: bool
    dynamic: bool


class ToolsetGate(DirectCallTool):
    """Middleware after the role gate: a tool outside the connection's toolsets (or a writing tool on a
    read-only connection) is neither listed nor callable, and the refusal says what to enable."""

    def __init__(self, principals: PrincipalSource, selection: Selection) -> None:
        self.principals = principals
        self.selection = selection
        self.toolset: dict[str, str] = {}
        self.read_only: dict[str, bool] = {}
        self.roles: dict[str, frozenset[str]] = {}

    def register(self, tool: FunctionTool, plain_name: str, read_only: bool) -> None:
        from mcp_servers.toolkit import ROLES_META

        toolset = toolset_of(plain_name)
        if toolset is None:
            raise RuntimeError(f"tool {plain_name} is in no toolset; add it to mcp_servers.toolsets.TOOLSETS")
        self.toolset[tool.name] = toolset
        # Choosing toolsets changes no data: a read-only connection may still do it.
        self.read_only[tool.name] = read_only or toolset == META
        self.roles[tool.name] = frozenset((tool.meta or {}).get(ROLES_META) or ())

    async def view(self) -> View:
        from fastmcp.server.dependencies import get_context

        from mcp_servers.toolkit import CaasToolError

        headers = request_headers(HEADER, READ_ONLY_HEADER)
        try:
            header = parse_toolsets(headers[HEADER], self.selection.ceiling) if HEADER in headers else None
            read_only = self.selection.read_only or parse_read_only(headers.get(READ_ONLY_HEADER, ""))
        except ToolsetError as exc:  # served without ToolsetHeaders, which answers 400 first
            raise CaasToolError("invalid_argument", str(exc)) from None
        dynamic = self.selection.dynamic(header)
        enabled = await enabled_in_session(get_context()) if dynamic else frozenset()
        role = self.principals.current().role
        return View(self.selection.visible(role, header, enabled), read_only, dynamic)

    async def listing_key(self) -> tuple[str, View]:
        """All that decides which tools a ``tools/list`` shows (with the role gate): the caller's role
        and its connection's view."""
        view = await self.view()
        return self.principals.current().role.value, view

    def shown(self, name: str, view: View) -> bool:
        if name not in self.toolset:  # not one of ours (none today): the role gate decides
            return True
        return self.toolset[name] in view.toolsets and (self.read_only[name] or not view.read_only)

    def tools_for(self, toolset: str, role: Role, read_only: bool) -> list[str]:
        """The tools of ``toolset`` on this server that ``role`` may call (the read-only ones only, on
        a read-only connection), in listing order."""
        return [
            name
            for name, owner in self.toolset.items()
            if owner == toolset and role.value in self.roles[name] and (self.read_only[name] or not read_only)
        ]

    async def on_list_tools(
        self, context: MiddlewareContext[ListToolsRequest], call_next: CallNext[ListToolsRequest, Any]
    ) -> Any:
        view = await self.view()
        return [t for t in await call_next(context) if self.shown(t.name, view)]

    async def on_call_tool(
        self,
        context: MiddlewareContext[CallToolRequestParams],
        call_next: CallNext[CallToolRequestParams, Any],
    ) -> Any:
        from mcp_servers.toolkit import CaasToolError

        name = context.message.name
        view = await self.view()
        toolset = self.toolset.get(name)
        if toolset is not None and toolset not in view.toolsets:
            raise CaasToolError(NotFound.code, self._enable_hint(name, toolset, view.dynamic))
        if toolset is not None and view.read_only and not self.read_only[name]:
            raise CaasToolError(
                PermissionDenied.code,
                f"{name} changes state and this connection is read-only (X-CaaS-Read-Only or "
                "CAAS_READ_ONLY); call it on a connection that is not read-only",
            )
        return await call_next(context)

    def _enable_hint(self, name: str, toolset: str, dynamic: bool) -> str:
        if toolset == META:
            return (
                f"{name} chooses toolsets on a dynamic connection; connect with the header "
                "'X-CaaS-Toolsets: dynamic' (or start the server with --toolsets dynamic), or name the "
                "toolsets you need in X-CaaS-Toolsets"
            )
        if toolset not in self.selection.ceiling:
            return (
                f"{name} is in the {toolset!r} toolset, which this server does not serve (it serves "
                f"{', '.join(self.selection.ceiling)}); ask its operator to add {toolset} to CAAS_TOOLSETS"
            )
        if dynamic:
            return (
                f"{name} is in the {toolset!r} toolset, which this session has not enabled; call "
                f"enable_toolset with toolset {toolset!r} first"
            )
        return (
            f"{name} is in the {toolset!r} toolset, which this connection has not enabled; enable it "
            f"with the header 'X-CaaS-Toolsets: default,{toolset}' (or start the server with "
            f"--toolsets / CAAS_TOOLSETS naming {toolset})"
        )


class ToolsetHeaders:
    """ASGI middleware: an MCP request (``path``) whose X-CaaS-Toolsets or X-CaaS-Read-Only header is
    malformed is answered 400 naming the valid toolsets, before it reaches the MCP transport. Other
    routes (probes, webhooks, pages) never read the headers, so they are not judged by them."""

    def __init__(self, app: ASGIApp, selection: Selection, path: str = "/mcp") -> None:
        self.app = app
        self.selection = selection
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == self.path:
            problem = self._problem(scope)
            if problem is not None:
                body = json.dumps({"error": {"code": "invalid_argument", "message": problem}}).encode()
                start = {"type": "http.response.start", "status": 400}
                await send({**start, "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _problem(self, scope: Scope) -> str | None:
        for raw_name, raw_value in scope.get("headers", ()):
            name = raw_name.decode("latin-1").lower()
            try:
                if name == HEADER:
                    parse_toolsets(raw_value.decode("latin-1"), self.selection.ceiling)
                elif name == READ_ONLY_HEADER:
                    parse_read_only(raw_value.decode("latin-1"))
            except ToolsetError as exc:
                return f"{exc}" if name == READ_ONLY_HEADER else f"X-CaaS-Toolsets: {exc}"
        return None
