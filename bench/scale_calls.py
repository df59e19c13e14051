"""What bench_scale.py times, through the product's own MCP tools: an in-memory fastmcp Client on the
composed server (mcp_servers.composition.build_server) of a Runtime on the seeded database, calling as
the principal each item names (the in-process principal, as tests/conftest.py switches it).

A paged item is timed at its first page and at its hundredth (the 100th call after following
next_cursor 99 times; that cursor is then replayed, so each timed call reads the same page). An
unpaged item (a read of one thing, or a list without a cursor) is timed at its one page. A job item
(reconcile, aging, the dashboards) is called once per measurement: it may change the book (aging).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastmcp import Client
from seed_scale import CLEARING, sid

from tests.helpers.common import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, PII_ENV, SERVICE_KEY
from tools.platform.principal import Principal, Role

PROVIDER = str(sid(2, 0))  # an active NGN lender (seed_scale.copy_providers), invited and lending
APPLICATION = str(sid(1, 0))  # the oldest loan's application: documents, three bids, a loan
LOAN = str(sid(4, 0))
HEAVY_USER = "bench-heavy-user"  # the inbox with 100 pages at every scale

OPERATOR = Principal("bench-operator", Role.OPERATOR)
ADMIN = Principal("bench-admin", Role.ADMIN)
LENDER = Principal("bench-lender", Role.PROVIDER, PROVIDER)
BORROWER = Principal(HEAVY_USER, Role.BORROWER)
READ = "read"


@dataclass(frozen=True)
class Item:
    name: str
    tool: str
    principal: Principal
    args: dict[str, Any] = field(default_factory=dict)
    kind: str = "paged"  # paged | read | job


def items() -> list[Item]:
    today = datetime.now(UTC).date()
    year = {"period_start": str(today - timedelta(days=365)), "period_end": str(today)}
    return [
        Item("list_applications", "credit_list_applications", OPERATOR),
        Item("list_loans", "credit_list_loans", OPERATOR),
        Item("list_loans (provider)", "credit_list_loans", LENDER),
        Item("list_review_queue", "credit_list_review_queue", OPERATOR),
        Item("list_providers", "admin_list_providers", ADMIN),
        Item("list_account_postings", "admin_list_account_postings", ADMIN, {"account": CLEARING}),
        Item("list_payments", "payments_list_payments", OPERATOR),
        Item("list_bids", "providers_list_bids", OPERATOR, {"application": APPLICATION}, "read"),
        Item("list_invitations", "providers_list_invitations", OPERATOR),
        Item("list_invitations (provider)", "providers_list_invitations", LENDER),
        Item("list_notifications", "notifications_list_notifications", BORROWER),
        Item("list_webhook_deliveries", "admin_list_webhook_deliveries", OPERATOR),
        Item("list_pending_actions", "admin_list_pending_actions", OPERATOR, {}, "read"),
        Item("list_documents", "documents_list_documents", OPERATOR, {"application": APPLICATION}, "read"),
        Item("list_provider_benchmarks", "monitoring_list_provider_benchmarks", OPERATOR),
        Item("list_support_conversations", "notifications_list_support_conversations", OPERATOR),
        Item(
            "get_balance (clearing)",
            "admin_get_account_balance",
            ADMIN,
            {"account": CLEARING},
            "read",
        ),
        Item(
            "get_balance (loan)",
            "admin_get_account_balance",
            ADMIN,
            {"account": f"loan:{LOAN}:principal_receivable:NGN"},
            "read",
        ),
        Item("get_loan", "credit_get_loan", OPERATOR, {"loan": LOAN}, "read"),
        Item("get_provider_capital", "admin_get_provider_capital", OPERATOR, {"provider": PROVIDER}, "read"),
        Item(
            "get_commission_statement",
            "credit_get_commission_statement",
            OPERATOR,
            {"provider": PROVIDER, **year},
            "read",
        ),
        Item(
            "get_platform_revenue",
            "credit_get_platform_revenue",
            OPERATOR,
            {"currency": "NGN", **year},
            "read",
        ),
        Item(
            "get_revenue_by_month", "monitoring_get_revenue_by_month", OPERATOR, {"currency": "NGN"}, "read"
        ),
        Item("reconcile_ledger", "admin_reconcile_ledger", ADMIN, {}, "job"),
        # The first run is a full one (no checkpoint yet); the second, what the hourly run costs.
        Item("reconcile_ledger (incremental)", "admin_reconcile_ledger", ADMIN, {}, "job"),
        Item("age_loans", "credit_age_loans", OPERATOR, {}, "job"),
        Item("get_pipeline_health", "monitoring_get_pipeline_health", OPERATOR, {}, "job"),
        Item("get_sync_status", "monitoring_get_sync_status", OPERATOR, {}, "job"),
    ]


@asynccontextmanager
async def mcp_client(dsn: str, data_dir: Path) -> AsyncIterator[tuple[Any, Client]]:
    """A Runtime on dsn (its migrations already applied) and an in-memory client of its server."""
    for name, value in PII_ENV.items():
        os.environ.setdefault(name, value)
    from mcp_servers.composition import build_server
    from mcp_servers.config import load_settings
    from mcp_servers.runtime import Runtime

    settings = load_settings(
        database_url=dsn,
        data_dir=data_dir,
        jwt_secret=JWT_SECRET,
        jwt_issuer=JWT_ISSUER,
        jwt_audience=JWT_AUDIENCE,
        service_api_key=SERVICE_KEY,
        toolsets="all",
    )
    runtime = Runtime(settings)
    async with runtime.session(), Client(build_server(runtime), mode="2026-07-28") as client:
        yield runtime, client


async def call(runtime: Any, client: Client, item: Item, cursor: str | None = None) -> tuple[float, Any]:
    runtime.principals.local = item.principal
    args = dict(item.args, cursor=cursor) if cursor else item.args
    t0 = time.perf_counter()
    result = await client.call_tool(item.tool, args, raise_on_error=False)
    spent = (time.perf_counter() - t0) * 1000
    if result.is_error:
        text = " ".join(getattr(c, "text", "") for c in result.content)
        raise RuntimeError(f"{item.tool} {args}: {text[:300]}")
    return spent, result.structured_content or {}


def rows_of(page: dict[str, Any]) -> int | None:
    """The length of the page's list, whatever the tool names it (items, loans, postings...)."""
    lists = [v for k, v in page.items() if isinstance(v, list) and k != "warnings"]
    return len(lists[0]) if lists else None


async def p50(runtime: Any, client: Client, item: Item, iterations: int, cursor: str | None) -> float:
    await call(runtime, client, item, cursor)  # warm: the statement cache, the buffers
    spent = [(await call(runtime, client, item, cursor))[0] for _ in range(iterations)]
    return round(statistics.median(spent), 2)


async def measure(runtime: Any, client: Client, item: Item, iterations: int) -> dict[str, Any]:
    if item.kind == "job":
        spent, out = await call(runtime, client, item)
        # Whatever the job's shape: its scalar figures, and how many applications the states count.
        scalars = {k: v for k, v in out.items() if isinstance(v, bool | int | float) or k == "mode"}
        if isinstance(out.get("states"), list):
            scalars["applications_counted"] = sum(s["count"] for s in out["states"])
        return {"once_ms": round(spent, 1), **scalars}
    _, first = await call(runtime, client, item)
    got: dict[str, Any] = {
        "first_ms": await p50(runtime, client, item, iterations, None),
        "rows": rows_of(first),
    }
    if item.kind != "paged":
        return got
    cursor, page, pages = first.get("next_cursor"), first, 1
    while cursor and pages < 99:
        _, page = await call(runtime, client, item, cursor)
        pages += 1
        cursor = page.get("next_cursor")
    got["pages_followed"] = pages
    if cursor:
        got["hundredth_ms"] = await p50(runtime, client, item, iterations, cursor)
    return got
