"""The composed ``caas`` server, single-service servers, and the HTTP routes beside ``/mcp``."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider
from mcp.server.request_state import RequestStateSecurity
from mcp.shared.inbound import find_invalid_x_mcp_header, x_mcp_header_map
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_servers.apps import register_apps
from mcp_servers.completions import register_completions
from mcp_servers.config import Settings
from mcp_servers.instructions import instructions
from mcp_servers.platform.auth import CaasResourceServer, CaasTokenVerifier, PrincipalSource
from mcp_servers.platform.metrics import MetricsExporter
from mcp_servers.platform.pii import shared_state_key
from mcp_servers.platform.registration import registry_health
from mcp_servers.platform.request_context import CallLog
from mcp_servers.platform.tool_listing import cache_tool_listing
from mcp_servers.platform.tool_lookup import index_tools
from mcp_servers.prompt_arguments import PromptArguments
from mcp_servers.prompts import register_prompts
from mcp_servers.resources import register_resources
from mcp_servers.role_gate import RoleVisibility
from mcp_servers.runtime import Runtime
from mcp_servers.service_table import ServiceTable
from mcp_servers.subscriptions import Subscriptions
from mcp_servers.tool_names import ToolNames
from mcp_servers.toolkit import ErrorMapping, as_tool
from mcp_servers.toolsets import Selection, ToolsetGate, parse_toolsets
from tools.platform.principal import Principal

__all__ = ["PLAN_PORTS", "SERVICES", "build_server", "package_version", "tool_names"]

# The MCP servers clients know (each name is a server of its own and the prefix of its tools in the
# composed server, so these names never change) and the tool sets each carries, in listing order. A
# server's tools may come from several code services: ``credit`` carries the loan tools, ``admin`` the
# ledger and lender administration. Modules by path (their ``TOOLS``), imported when a server carries
# the service (mcp_servers.service_table): `caas serve --service risk` imports risk's tools only.
SERVICES = ServiceTable(
    {
        "credit": (
            "mcp_servers.credit.applications",
            "mcp_servers.credit.decisions",
            "mcp_servers.loans.loans",
            "mcp_servers.loans.commissions",
        ),
        "risk": ("mcp_servers.risk.assessments",),
        "documents": ("mcp_servers.credit.documents",),
        # confirm_action runs a money move of any service once a person confirmed it; list_toolsets and
        # enable_toolset (a dynamic connection's first tools) choose among every service's toolsets.
        "admin": (
            "mcp_servers.ledger.ledger",
            "mcp_servers.marketplace.providers",
            "mcp_servers.marketplace.webhook_deliveries",
            "mcp_servers.platform.health",
            "mcp_servers.confirmation",
            "mcp_servers.toolset_tools",
        ),
        "providers": (
            "mcp_servers.marketplace.matching",
            "mcp_servers.marketplace.bidding",
            "mcp_servers.marketplace.offers",
        ),
        "payments": ("mcp_servers.payments.payments",),
        "notifications": ("mcp_servers.notifications.inbox", "mcp_servers.notifications.support_chat"),
        # The plan's unified dashboard metrics; read-only, for staff.
        "monitoring": ("mcp_servers.monitoring.dashboard",),
    }
)

# Ports from the deployment plan; the composed server uses the core port.
PLAN_PORTS = {
    "caas": 3013,
    "credit": 3014,
    "risk": 3005,
    "providers": 3008,
    "payments": 3006,
    "notifications": 3003,
    "documents": 3004,
    "monitoring": 3007,
    "admin": 3012,
}


def package_version() -> str:
    try:
        return version("caas-mcp")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0"


class _LivePrincipals(PrincipalSource):
    """The runtime's principal source as it is at each call: the role gate and the call log must see
    the caller the tool sees, even where the source is replaced after the server is built."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime.principals.local)
        self._runtime = runtime

    def current(self) -> Principal:
        return self._runtime.principals.current()


def build_server(
    runtime: Runtime,
    service: str | None = None,
    *,
    api_keys: dict[str, Principal] | None = None,
    resource_url: str | None = None,
    selection: Selection | None = None,
) -> FastMCP:
    """The composed server (``service=None``) or one service, ready for stdio, HTTP or in-memory use.

    ``api_keys`` switches bearer authentication on (HTTP); without it every call runs as the
    runtime's local principal (stdio and in-process clients). ``resource_url`` is the server's public
    ``/mcp`` URL, advertised as OAuth protected resource metadata when a JWT issuer is configured.
    ``selection`` (default: CAAS_TOOLSETS and CAAS_READ_ONLY) says which toolsets clients see.
    """

    subscriptions = Subscriptions(runtime)

    @asynccontextmanager
    async def lifespan(_: FastMCP) -> AsyncIterator[dict[str, Any]]:
        async with runtime.session(), subscriptions.running():
            yield {"runtime": runtime}

    name = "caas" if service is None else f"caas-{service}"
    auth = _auth(runtime.settings, service or "caas", api_keys, resource_url)
    visibility = RoleVisibility(_LivePrincipals(runtime))
    if selection is None:
        chosen = parse_toolsets(runtime.settings.toolsets)
        # A single-service server is already a choice of tools: its roles see them all by default.
        selection = Selection(chosen, runtime.settings.read_only, role_defaults=service is None)
    gate = ToolsetGate(_LivePrincipals(runtime), selection)
    names = tool_names(service)
    errors = ErrorMapping(names.render)
    key = shared_state_key(runtime.settings)
    server = FastMCP(
        name,
        instructions=instructions(service, SERVICES),
        version=package_version(),
        lifespan=lifespan,
        middleware=[CallLog(_LivePrincipals(runtime)), errors, visibility, gate, PromptArguments()],
        auth=auth,
        mask_error_details=True,
        # Arguments are JSON and taken as such: an integer field takes a JSON integer, not "12", 12.0,
        # " 12" or true (the numbers' own leniency is the class of issue 10, item 6).
        strict_input_validation=True,
        # as_tool inlines every $ref when the tool is made; FastMCP's own pass would walk all ~85 schemas
        # again on every tools/list to find none (about 70% of a listing's CPU).
        dereference_schemas=False,
        # A 2026-07-28 confirmation's sealed requestState comes back on the client's retry, which may reach
        # another process (`caas serve --processes`) or replica: every process seals with the same key.
        request_state_security=RequestStateSecurity(keys=[key], audience=name) if key else None,
    )
    schemas = _add_tools(server, service, names, visibility, gate, errors)
    # Without this lookup the MCP SDK runs a whole tools/list before every 2026-07-28 tools/call just
    # to find one input schema (python-sdk#3565): about 60% of a call's CPU. Our tools are fixed at
    # start-up, so a dict answers it. The SDK uses the schema only to check a call's Mcp-Param-* headers
    # against its x-mcp-header annotations, walking the whole schema twice a call (2.7% of a call's
    # CPU); a schema without a valid annotation can reject nothing, so only the annotated are answered.
    server._mcp_server.get_tool_input_schema = schemas.get
    _add_resources_and_prompts(server, service, subscriptions, names)
    _add_routes(server, runtime, service)
    index_tools(server)
    # After index_tools, whose hooks tell it when session visibility rules exist.
    cache_tool_listing(server, gate.listing_key)
    return server


def _add_tools(
    server: FastMCP,
    service: str | None,
    names: ToolNames,
    visibility: RoleVisibility,
    gate: ToolsetGate,
    errors: ErrorMapping,
) -> dict[str, dict[str, Any]]:
    """Adds the service's tools (every service's, prefixed, for the composed server); returns the input
    schemas the MCP SDK must see (those with x-mcp-header annotations)."""
    schemas: dict[str, dict[str, Any]] = {}
    for child_name, toolsets in SERVICES.items() if service is None else [(service, SERVICES[service])]:
        # The tools are added to this server under "<service>_<tool>" rather than mounting a server per
        # service: a mount resolves every call by walking each mounted server (about 0.6 ms a call with
        # six services), while our own tools are a dict lookup.
        prefix = f"{child_name}_" if service is None else ""
        for toolset in toolsets:
            for spec in toolset.specs:
                tool = as_tool(spec, child_name)
                named = tool.model_copy(update=_rendered(tool, prefix + tool.name, names))
                server.add_tool(named)
                visibility.register(named, spec.retired)
                gate.register(named, spec.fn.__name__, spec.read_only)
                errors.known.add(named.name)
                if x_mcp_header_map(named.parameters) and find_invalid_x_mcp_header(named.parameters) is None:
                    schemas[named.name] = named.parameters
    return schemas


def _add_resources_and_prompts(
    server: FastMCP, service: str | None, subscriptions: Subscriptions, names: ToolNames
) -> None:
    if service in (None, "risk"):
        from mcp_servers.risk import assessments

        assessments.register_model_resource(server)
    if service in (None, "credit"):
        from mcp_servers.loans import loans

        loans.register_loan_resources(server, names.render)
        subscriptions.install(server)
    register_prompts(server, service, SERVICES)
    register_resources(server, service, names.render)
    register_apps(server, service, names.render)
    register_completions(server)


def tool_names(service: str | None) -> ToolNames:
    """How the server carrying ``service`` (None: the composed server) names every tool in text. One
    service takes the other servers' names from the generated index, so it imports only its own tools
    (a server the index does not know yet is imported)."""
    from mcp_servers.tool_index import TOOL_NAMES

    def names(owner: str) -> list[str]:
        if service is not None and owner != service and owner in TOOL_NAMES:
            return list(TOOL_NAMES[owner])
        return [spec.fn.__name__ for ts in SERVICES[owner] for spec in ts.specs]

    return ToolNames.of({owner: names(owner) for owner in SERVICES}, service)


def _rendered(tool: Any, name: str, names: ToolNames) -> dict[str, Any]:
    """A tool's name on this server and its texts naming other tools as this server exposes them."""
    output = tool.output_schema
    return {
        "name": name,
        "description": names.render(tool.description or ""),
        "parameters": names.render_schema(tool.parameters),
        "output_schema": None if output is None else names.render_schema(output),
    }


def _auth(
    settings: Settings, server: str, api_keys: dict[str, Principal] | None, resource_url: str | None
) -> AuthProvider | None:
    if api_keys is None:
        return None
    verifier = CaasTokenVerifier(settings, api_keys, server=server)
    if settings.jwt_issuer is None or resource_url is None:
        return verifier
    return CaasResourceServer(verifier, settings.jwt_issuer, resource_url)


def _add_routes(server: FastMCP, runtime: Runtime, service: str | None) -> None:
    # Webhooks go to the server that owns them (nginx routes /webhooks/ to payments); the composed one
    # takes both.
    if service in (None, "payments"):
        from mcp_servers.payments.webhook_routes import register_webhook_routes

        register_webhook_routes(server, runtime)
    if service in (None, "providers"):
        from mcp_servers.marketplace.webhook_routes import register_provider_webhook_route

        register_provider_webhook_route(server, runtime)
    if service is None and server.auth is not None:
        # Live updates (/live/ws, /live/events) ride on the composed server, behind the same tokens.
        from mcp_servers.live_updates import LiveUpdates

        LiveUpdates(runtime, server.auth).install(server)
        from mcp_servers.local_uploads import LocalUploads

        LocalUploads(runtime, server.auth).install(server)
        from mcp_servers.web_pages import install_web_pages

        supabase = runtime.settings.supabase_url
        install_web_pages(server, tool_names(None).render, None if supabase is None else str(supabase))
    name = "caas" if service is None else f"caas-{service}"

    def report(ready: bool, deps: dict[str, Any]) -> dict[str, Any]:
        payments = runtime.payments_info()
        return {
            "status": "ok" if ready else "unavailable",
            "service": name,
            "version": package_version(),
            "uptime_s": round(time.monotonic() - runtime.started_at, 1),
            # Which process answered (several serve one port under `caas serve --processes`).
            "pid": os.getpid(),
            "database": "embedded" if runtime.settings.embedded else "configured",
            "dependencies": deps,
            # Says plainly whether money is real: simulated vendors move no money.
            "simulated": payments["simulated"],
            "payments": payments,
            # Discovery only: a registry that is down shows here but never makes us unready.
            "registry": registry_health(runtime),
        }

    @server.custom_route("/health", methods=["GET"])
    async def health(_: Request) -> Response:
        # Liveness: the process answers. A dependency that is down is reported here but is /ready's
        # business: restarting this process would not bring a database back.
        healthy, deps = await runtime.health()
        body = report(healthy, deps)
        body["status"] = "ok" if healthy else "degraded"
        return JSONResponse(body)

    @server.custom_route("/ready", methods=["GET"])
    async def ready(_: Request) -> Response:
        # Readiness (also the health_url the registry probes): 503 while the system of record, a
        # configured Supabase API or a pending migration would make calls fail.
        ok, deps = await runtime.health()
        ok = ok and runtime.ready
        body = {"ready": ok, **report(ok, deps)}
        return JSONResponse(body, status_code=200 if ok else 503)

    exporter = MetricsExporter(runtime)

    @server.custom_route("/metrics", methods=["GET"])
    async def metrics(_: Request) -> Response:
        # Never a 5xx: a database that does not answer leaves its facts out (MetricsExporter).
        return Response(await exporter.exposition(), media_type=CONTENT_TYPE_LATEST)
