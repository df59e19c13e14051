"""The composed ``caas`` server, single-service servers, and the HTTP routes beside ``/mcp``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastmcp import FastMCP
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_servers.credit.applications import build_credit_server
from mcp_servers.credit.documents import build_documents_server
from mcp_servers.ledger.admin import build_admin_server
from mcp_servers.loans.loans import register_loan_resources
from mcp_servers.marketplace.matching import build_providers_server
from mcp_servers.notifications.notifications import build_notifications_server
from mcp_servers.payments.payments import build_payments_server
from mcp_servers.payments.webhook_routes import register_webhook_routes
from mcp_servers.platform.auth import CaasTokenVerifier
from mcp_servers.platform.registration import registry_health
from mcp_servers.risk.assessments import build_risk_server, register_model_resource
from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import ErrorMapping, RoleVisibility, ToolGate
from tools.platform.principal import Principal

__all__ = ["PLAN_PORTS", "SERVICES", "build_server", "package_version"]

ServiceBuilder = Callable[[Runtime, ToolGate], FastMCP]

# The services that exist; the composed server mounts each under its name.
SERVICES: dict[str, ServiceBuilder] = {
    "credit": build_credit_server,
    "risk": build_risk_server,
    "documents": build_documents_server,
    "admin": build_admin_server,
    "providers": build_providers_server,
    "payments": build_payments_server,
    "notifications": build_notifications_server,
}

# Ports from the deployment plan; the composed server uses the core port.
PLAN_PORTS = {
    "caas": 3013,
    "credit": 3013,
    "risk": 3005,
    "providers": 3008,
    "payments": 3006,
    "notifications": 3003,
    "documents": 3004,
    "monitoring": 3007,
    "admin": 3012,
}

INSTRUCTIONS = """CaaS: a credit marketplace run through MCP tools. Tools are namespaced by service
(credit_*, documents_*). Amounts are decimal strings with an ISO 4217 currency. Errors carry a
stable code in structuredContent.error.code."""


def package_version() -> str:
    try:
        return version("caas-mcp")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0"


def build_server(
    runtime: Runtime, service: str | None = None, *, api_keys: dict[str, Principal] | None = None
) -> FastMCP:
    """The composed server (``service=None``) or one service, ready for stdio, HTTP or in-memory use.

    ``api_keys`` switches bearer authentication on (HTTP); without it every call runs as the
    runtime's local principal (stdio and in-process clients).
    """
    gate = ToolGate(runtime.principals)

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[dict[str, Any]]:
        async with runtime.session():
            yield {}

    auth = CaasTokenVerifier(runtime.settings, api_keys) if api_keys is not None else None
    name = "caas" if service is None else f"caas-{service}"
    server = FastMCP(
        name,
        instructions=INSTRUCTIONS,
        version=package_version(),
        lifespan=lifespan,
        middleware=[ErrorMapping(), RoleVisibility(runtime.principals)],
        auth=auth,
        mask_error_details=True,
    )
    schemas: dict[str, dict[str, Any]] = {}
    for child_name, build in SERVICES.items() if service is None else [(service, SERVICES[service])]:
        child = build(runtime, gate)
        # The service's tools are added to this server under "<service>_<tool>" rather than mounting
        # the service: a mount resolves every call by walking each mounted server (about 0.6 ms a
        # call with six services), while our own tools are a dict lookup. Services hold only tools;
        # the risk model resource is registered below on this server.
        prefix = f"{child_name}_" if service is None else ""
        for owner, tool in gate.registered:
            if owner == child.name:
                named = tool.model_copy(update={"name": prefix + tool.name})
                server.add_tool(named)
                schemas[named.name] = named.parameters
    # Without this lookup the MCP SDK runs a whole tools/list before every 2026-07-28 tools/call just
    # to find one input schema (python-sdk#3565): about 60% of a call's CPU. Our tools are fixed at
    # start-up, so a dict answers it.
    server._mcp_server.get_tool_input_schema = schemas.get
    if service in (None, "risk"):
        register_model_resource(server)
    if service in (None, "credit"):
        register_loan_resources(server, runtime)
    _add_routes(server, runtime, name)
    return server


def _add_routes(server: FastMCP, runtime: Runtime, name: str) -> None:
    register_webhook_routes(server, runtime)

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> Response:
        healthy, deps = await runtime.health()
        body = {
            "status": "ok" if healthy else "unavailable",
            "service": name,
            "version": package_version(),
            "uptime_s": round(time.monotonic() - runtime.started_at, 1),
            "database": "embedded" if runtime.settings.embedded else "configured",
            "dependencies": deps,
            # Says plainly whether money is real: "sandbox" means simulated vendors, no money moves.
            "payments": runtime.payments_info(),
            # Discovery only: a registry that is down shows here but never makes us unhealthy.
            "registry": registry_health(runtime),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @server.custom_route("/ready", methods=["GET"])
    async def ready(_: Request) -> Response:
        ok = runtime.ready
        return JSONResponse({"ready": ok, "service": name}, status_code=200 if ok else 503)

    @server.custom_route("/metrics", methods=["GET"])
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
