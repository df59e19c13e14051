"""MCP Apps (extension ``io.modelcontextprotocol/ui``): HTML views of tool results for hosts that render them.

A tool that has one names it in ``_meta.ui.resourceUri`` (``ToolSet.tool(app=...)``); the page is a
``ui://caas/`` resource served as ``text/html;profile=mcp-app``, self-contained (its script and style are
inlined from the package's files, so it requests nothing from any origin), and its CSP metadata declares no
origin at all. The page renders the structured result the host passes it and calls back only the tool it
belongs to (Refresh), as the same caller under the same role gate. A host without the extension sees the
tool unchanged but for ``_meta``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from fastmcp import FastMCP
from fastmcp.apps import AppConfig, ResourceCSP

__all__ = [
    "APPS",
    "BORROWER_APP",
    "CONFIRMATIONS_APP",
    "INVITATIONS_APP",
    "OFFERS_APP",
    "QUEUE_APP",
    "SCHEDULE_APP",
    "register_apps",
]

OFFERS_APP = "ui://caas/offers.html"
SCHEDULE_APP = "ui://caas/schedule.html"
# The three dashboards are pages of their own in a browser too (mcp_servers.web_pages): one source.
QUEUE_APP = "ui://caas/operator-console.html"
INVITATIONS_APP = "ui://caas/provider-dashboard.html"
BORROWER_APP = "ui://caas/borrower.html"
CONFIRMATIONS_APP = "ui://caas/confirmations.html"


@dataclass(frozen=True, slots=True)
class App:
    """One page: the service and tool whose results it shows, and its file in this package."""

    service: str
    tool: str
    page: str
    description: str


APPS = {
    OFFERS_APP: App(
        "providers", "compare_offers", "offers.html", "The live offers on an application, ranked by APR."
    ),
    SCHEDULE_APP: App(
        "credit", "get_repayment_schedule", "schedule.html", "A loan's installments, paid and still owed."
    ),
    QUEUE_APP: App(
        "credit",
        "list_review_queue",
        "console.html",
        "The operator console: the review queue with maker-checker, money moves awaiting a person, "
        "lenders, payouts, the ledger and platform health.",
    ),
    INVITATIONS_APP: App(
        "providers",
        "list_invitations",
        "provider.html",
        "A lender's dashboard: invitations to bid, its bids with an APR preview, loans, capital, "
        "commission and webhook deliveries.",
    ),
    BORROWER_APP: App(
        "credit",
        "get_application",
        "borrower.html",
        "A borrower's application: status and timeline, documents, offers by APR, the loan and its "
        "schedule, payments, notifications and support.",
    ),
    # Confirm and refuse from the page call confirm_action and decline_action as the same caller: the page
    # adds a person's click, never a way around who may confirm.
    CONFIRMATIONS_APP: App(
        "admin", "list_pending_actions", "confirmations.html", "Money moves awaiting a person's decision."
    ),
}
# Empty lists, not absent ones: the page declares that it needs no origin beyond the host's own.
NO_ORIGINS = AppConfig(csp=ResourceCSP(connect_domains=[], resource_domains=[]))


_OTHER_TOOL = re.compile(r"\{\{TOOL:([a-z_]+)\}\}")
# A page's own scripts, kept in files of their own (``/*JS:provider.js*/`` inside its <script>).
_INCLUDE = re.compile(r"/\*JS:([a-z0-9_-]+\.js)\*/")


@cache
def _file(name: str) -> str:
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def page(app: App, render: Callable[[str], str]) -> str:
    """The page of ``app``, whole: the shared bridge and style inlined, each tool it calls named by
    ``render`` (as this server exposes it)."""
    html = _INCLUDE.sub(lambda m: _file(m.group(1)), _file(app.page))
    html = _OTHER_TOOL.sub(lambda m: render(m.group(1)), html)
    return (
        html.replace("/*STYLE*/", _file("style.css"))
        .replace("/*BRIDGE*/", _file("bridge.js"))
        .replace("{{TOOL}}", render(app.tool))
    )


def register_apps(server: FastMCP, service: str | None, render: Callable[[str], str] = str) -> None:
    """The pages of the tools ``service`` carries (all of them on the composed server, ``service=None``);
    ``render`` names each tool as this server exposes it."""
    for uri, app in APPS.items():
        if service in (None, app.service):
            html = page(app, render)
            server.resource(
                uri,
                name=app.page.removesuffix(".html") + "_app",
                description=app.description,
                app=NO_ORIGINS,
            )(_reader(html))


def _reader(html: str) -> Callable[[], str]:
    def read() -> str:
        return html

    return read
