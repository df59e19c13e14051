"""Progress notifications and client log lines (``notifications/message``) for tools that can run long.

Log lines go through fastmcp's ``Context.log``, which drops those below the level the client chose
with ``logging/setLevel`` (2025-11-25 era) or asked for on the request (2026-07-28 era). Every line is
written by us, from identifiers and counts only: no personal data reaches the client's log.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable

from fastmcp import Context
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import LoggingLevel

__all__ = ["LOGGER", "Progress", "reporter", "tell"]

# We serve the 2025-11-25 era, whose logging the SDK marks deprecated (SEP-2577) on every line sent.
warnings.filterwarnings("ignore", "The logging capability is deprecated", MCPDeprecationWarning)

LOGGER = "caas"
Progress = Callable[[int, int | None, str], Awaitable[None]]


def reporter(ctx: Context) -> Progress:
    """A progress callback for a use case: a progress notification and a debug log line per step."""

    async def report(done: int, total: int | None, message: str) -> None:
        await ctx.report_progress(done, total, message)
        await ctx.log(message, level="debug", logger_name=LOGGER)

    return report


async def tell(ctx: Context, level: LoggingLevel, message: str) -> None:
    """One log line to the client, if it asked for this level."""
    await ctx.log(message, level=level, logger_name=LOGGER)
