"""The ``admin`` service: back-office tools for operators and admins, starting with the ledger."""

from __future__ import annotations

from fastmcp import FastMCP

from mcp_servers.ledger.ledger import register_ledger_tools
from mcp_servers.marketplace.providers import register_provider_tools
from mcp_servers.marketplace.webhook_deliveries import register_webhook_delivery_tools
from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import ToolGate

__all__ = ["build_admin_server"]

INSTRUCTIONS = """Back office for the CaaS marketplace. The ledger is double-entry in integer minor units:
every money movement is a journal whose postings sum to zero per currency; postings are never changed
(a correction is a reversing journal). Accounts are named by code, e.g. provider:p-7:capital_available:NGN.
Every error carries a stable code: invalid_argument, not_found, permission_denied, conflict, unavailable,
internal."""


def build_admin_server(runtime: Runtime, gate: ToolGate) -> FastMCP:
    server = FastMCP("admin", instructions=INSTRUCTIONS, mask_error_details=True)
    register_ledger_tools(server, runtime, gate)
    register_provider_tools(server, runtime, gate)
    register_webhook_delivery_tools(server, runtime, gate)
    return server
