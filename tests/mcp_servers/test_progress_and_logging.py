"""Progress notifications from the tools that can run long, and ``notifications/message`` lines at the
level the client set with ``logging/setLevel`` (2025-11-25 era), through a real MCP client."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
from fastmcp import Client, FastMCP
from fastmcp.client.logging import LogMessage
from mcp_types import LoggingLevel

from mcp_servers.runtime import Runtime
from tests.helpers.clock import MovableClock
from tests.helpers.loans import AGE, RECONCILE, active_loan
from tests.helpers.risk import uid
from tools.platform.principal import Role

EXPIRE = "credit_expire_stale_applications"
LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


async def set_level(client: Client, level: LoggingLevel) -> None:
    """logging/setLevel: deprecated by the 2026-07-28 era (SEP-2577), still the 2025-11-25 way."""
    await client.set_logging_level(level)


class Seen:
    def __init__(self) -> None:
        self.progress: list[tuple[float, float | None, str | None]] = []
        self.logs: list[tuple[str, str]] = []

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message))

    async def on_log(self, message: LogMessage) -> None:
        self.logs.append((message.level, str(message.data)))


async def test_aging_reports_progress_per_loan_and_logs_at_the_level_the_client_set(
    server: FastMCP,
    client: Client,
    principal: Any,
    runtime: Runtime,
    core_db: asyncpg.Connection,
    clock: MovableClock,
) -> None:
    loan, _ = await active_loan(client, principal, runtime, core_db)
    # Overdue, so aging reads it: a loan with nothing due is not examined.
    clock.move(days=(date.fromisoformat(loan["first_due_date"]) - clock.today()).days + 1)
    principal(uid("op"), Role.OPERATOR)
    seen = Seen()
    async with Client(server, mode="legacy", progress_handler=seen.on_progress, log_handler=seen.on_log) as c:
        await set_level(c, "info")
        report = (await c.call_tool(AGE, {})).structured_content
        assert report["loans_aged"] >= 1
        assert seen.progress[0][0] == 0
        assert any(loan["id"] in (message or "") for _, _, message in seen.progress)
        assert [p for p, _, _ in seen.progress] == sorted(p for p, _, _ in seen.progress)
        assert seen.progress[-1][0] == report["loans_aged"]
        assert seen.logs, "the summary line at info reaches a client that asked for info"
        assert all(LEVELS.index(level) >= LEVELS.index("info") for level, _ in seen.logs)
        assert any(f"aged {report['loans_aged']} loans" in text for _, text in seen.logs)
        seen.logs.clear()
        await set_level(c, "debug")
        await c.call_tool(AGE, {})
        assert "debug" in {level for level, _ in seen.logs}
        seen.logs.clear()
        await set_level(c, "error")
        await c.call_tool(AGE, {})
        assert seen.logs == []


async def test_expiry_and_reconciliation_report_progress_and_a_summary(
    server: FastMCP, principal: Any
) -> None:
    principal(uid("op"), Role.OPERATOR)
    for tool in (EXPIRE, RECONCILE):
        seen = Seen()
        async with Client(
            server, mode="legacy", progress_handler=seen.on_progress, log_handler=seen.on_log
        ) as c:
            await set_level(c, "info")
            await c.call_tool(tool, {})
        assert [(p, t) for p, t, _ in seen.progress] == [(0, 1), (1, 1)], tool
        assert [level for level, _ in seen.logs] in (["info"], ["error"]), tool
