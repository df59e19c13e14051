"""Service registration wiring: what a running HTTP server announces to the Onasis MCP server, the
background task that keeps it registered (``tools.platform.registration.Registrar``), and the official MCP
Registry ``server.json`` of each server.

Only ``caas serve`` over HTTP registers (``registration()`` around uvicorn in ``mcp_servers.cli``):
a stdio server has no URL to announce, and the Runtime session alone (tests, in-memory clients)
never registers.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
from fastmcp import FastMCP

from adapters.platform.registry import HttpServiceRegistry
from mcp_servers.config import Settings
from mcp_servers.runtime import Runtime
from tools.platform.ports import RegisteredTool, ServiceConfig
from tools.platform.registration import Registrar, RegistrationPolicy

__all__ = [
    "DEFAULT_REGISTRY_URL",
    "PACKAGE",
    "SERVER_SCHEMA_URL",
    "STDIO_ENVIRONMENT",
    "public_url",
    "registration",
    "registry_health",
    "registry_url",
    "server_json",
    "server_name",
    "service_config",
    "write_server_json",
]

log = logging.getLogger("caas.registration")

DEFAULT_REGISTRY_URL = "http://localhost:3001"  # contract §3
# The official MCP Registry's server.json format (modelcontextprotocol/registry,
# docs/reference/server-json); required there: name (reverse DNS, one "/"), description (1-100
# characters) and version; a remote is {"type": "streamable-http", "url": "http(s)://..."}.
SERVER_SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

DESCRIPTIONS = {
    None: "Credit-as-a-Service marketplace over MCP: applications, risk, lenders, bids, loans, payments",
    "credit": "Credit applications, offers, loans, repayments and commission for the CaaS marketplace",
    "risk": "Credit risk scoring and decisions for CaaS loan applications",
    "documents": "KYC document uploads and checks for CaaS loan applications",
    "admin": "Back office for the CaaS marketplace: ledger, providers and operator tools",
    "providers": "Lender matching, invitations, bids and capital in the CaaS credit marketplace",
    "payments": "Loan disbursements and repayment collection through the Onasis payment gateway",
    "notifications": "Borrower notifications (in-app, SMS, email) and support chat for CaaS",
    "monitoring": "CaaS dashboard: pipeline health, lender benchmarks, revenue, latency, Supabase sync",
}
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - compared against, never bound


def server_name(service: str | None) -> str:
    return "caas" if service is None else f"caas-{service}"


def public_url(settings: Settings, name: str, host: str, port: int) -> str:
    """The Streamable HTTP URL others reach ``name`` at: ``CAAS_PUBLIC_URL`` or the bind address."""
    if settings.public_url is not None:
        return settings.public_url.replace("{service}", name)
    if host in _WILDCARD_HOSTS:
        host = socket.gethostname()  # bound everywhere: the loopback address would only reach ourselves
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/mcp"


def _beside(mcp_url: str, route: str) -> str:
    base = mcp_url.removesuffix("/mcp")
    return base + route


def registry_url(runtime: Runtime) -> str:
    """MCP_SERVER_URL; unset, the registry of the sandbox the runtime started, else the contract's
    default."""
    if runtime.settings.mcp_server_url is not None:
        return str(runtime.settings.mcp_server_url).rstrip("/")
    # The sandbox (adapters/sandbox, started by the Runtime when no gateway is configured) serves
    # the registry routes too.
    if runtime.sandbox is not None:
        try:
            return runtime.sandbox.registry_url.rstrip("/")
        except RuntimeError:  # not serving (yet): nothing to register with there
            pass
    return DEFAULT_REGISTRY_URL


async def service_config(server: FastMCP, url: str, tags: Iterable[str], version: str) -> ServiceConfig:
    """What the registry is told: every tool of the built server with its annotations (all of them,
    not one role's view: listing without middleware skips the role filter)."""
    tools = []
    for tool in await server.list_tools(run_middleware=False):
        annotations = (
            tool.annotations.model_dump(by_alias=True, exclude_none=True, mode="json")
            if tool.annotations is not None
            else {}
        )
        tools.append(RegisteredTool(tool.name, tool.description or "", annotations))
    return ServiceConfig(
        url=url,
        health_url=_beside(url, "/ready"),
        metrics_url=_beside(url, "/metrics"),
        version=version,
        tools=tuple(sorted(tools, key=lambda t: t.name)),
        tags=tuple(dict.fromkeys(tags)),  # in order, once each
    )


def registry_health(runtime: Runtime) -> dict[str, Any]:
    """The ``registry`` part of ``/health``: informational, it never makes the service unhealthy."""
    registrar = runtime.registration
    if registrar is None:
        return {"state": "disabled"}
    return registrar.snapshot()


@asynccontextmanager
async def registration(
    runtime: Runtime,
    server: FastMCP,
    *,
    service: str | None,
    host: str,
    port: int,
    serving: Callable[[], bool] = lambda: True,
) -> AsyncIterator[Registrar]:
    """Keeps ``server`` registered while the body runs (in the background: the body never waits for
    the registry), then deactivates it within ``CAAS_REGISTRY_TIMEOUT_SECONDS``. The first activation
    waits until ``serving()`` is true, so the registry's first health probe finds us listening."""
    from mcp_servers.composition import package_version

    settings = runtime.settings
    name = server_name(service)
    url = public_url(settings, name, host, port)
    config = await service_config(server, url, ["caas", "credit", service or "composed"], package_version())
    client: HttpServiceRegistry | None = None
    if settings.registry:
        client = HttpServiceRegistry(
            registry_url(runtime),
            services_path=settings.registry_services_path,
            api_key=_registry_key(settings),
            timeout=settings.registry_timeout_seconds,
        )
    registrar = Registrar(
        client,
        name,
        config,
        RegistrationPolicy(
            heartbeat=timedelta(seconds=settings.registry_heartbeat_seconds),
            retry_base=timedelta(seconds=settings.registry_retry_seconds),
        ),
        registry_url=_without_credentials(client.base_url) if client is not None else None,
    )
    runtime.registration = registrar
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_run_once_serving, registrar, serving)
            try:
                yield registrar
            finally:
                tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(settings.registry_timeout_seconds):
            await registrar.deactivate()
    finally:
        runtime.registration = None
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.aclose()


def _without_credentials(url: str) -> str:
    """/health is public: a user:password in MCP_SERVER_URL must not show there."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def _run_once_serving(registrar: Registrar, serving: Callable[[], bool]) -> None:
    while not serving():  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await anyio.sleep(0.05)
    await registrar.run()


def _registry_key(settings: Settings) -> str | None:
    # One Onasis key (ONASIS_API_KEY) for the gateway and the MCP server alike.
    key = settings.onasis_api_key
    return key.get_secret_value() if key is not None else None


def server_json(settings: Settings, service: str | None) -> dict[str, Any]:
    """The official MCP Registry ``server.json`` of one server (composed when ``service`` is None)."""
    from mcp_servers.composition import PLAN_PORTS, package_version

    name = server_name(service)
    port = settings.port or PLAN_PORTS.get(service or "caas", PLAN_PORTS["caas"])
    description = DESCRIPTIONS.get(service) or f"CaaS {service} service (Credit-as-a-Service over MCP)"
    return {
        "$schema": SERVER_SCHEMA_URL,
        "name": f"{settings.registry_namespace}/{name}",
        "title": "CaaS" if service is None else f"CaaS {service}",
        "description": description[:100],
        "version": package_version(),
        "packages": [_pypi_package(service)],
        "remotes": [
            {
                "type": "streamable-http",
                "url": public_url(settings, name, settings.host, port),
                "headers": [
                    {
                        "name": "Authorization",
                        "description": "Bearer token: a Supabase access token or the service API key",
                        "isRequired": True,
                        "isSecret": True,
                    }
                ],
            }
        ],
    }


PACKAGE = "caas-mcp"
# What a person running the package over stdio may set; everything else has a working default.
STDIO_ENVIRONMENT: list[dict[str, Any]] = [
    {
        "name": "CAAS_STDIO_ROLE",
        "description": "The role of whoever calls over stdio",
        "default": "operator",
        "choices": ["borrower", "agent", "provider", "operator", "admin", "service"],
    },
    {
        "name": "NEON_DATABASE_URL",
        "description": "PostgreSQL URL of the system of record; unset: an embedded PostgreSQL",
        "isSecret": True,
    },
    {
        "name": "SUPABASE_DB_URL",
        "description": "PostgreSQL URL of the Supabase database; unset: an embedded PostgreSQL",
        "isSecret": True,
    },
    {
        "name": "CAAS_DATA_DIR",
        "description": "Where the embedded database and the local keys are kept",
        "format": "filepath",
    },
    {
        "name": "ONASIS_API_KEY",
        "description": "Onasis gateway key; unset: the sandbox simulates payments",
        "isSecret": True,
    },
]


def _pypi_package(service: str | None) -> dict[str, Any]:
    """The PyPI package that runs this server over stdio (``uvx caas-mcp serve --stdio``)."""
    from mcp_servers.composition import package_version

    arguments: list[dict[str, Any]] = [
        {"type": "positional", "value": "serve"},
        {"type": "named", "name": "--stdio"},
    ]
    if service is not None:
        arguments.append({"type": "named", "name": "--service", "value": service})
    return {
        "registryType": "pypi",
        "registryBaseUrl": "https://pypi.org",
        "identifier": PACKAGE,
        "version": package_version(),
        "runtimeHint": "uvx",
        "transport": {"type": "stdio"},
        "packageArguments": arguments,
        "environmentVariables": STDIO_ENVIRONMENT,
    }


def write_server_json(settings: Settings, out_dir: Path, services: Iterable[str]) -> list[Path]:
    """``<out_dir>/<server name>/server.json`` for the composed server and each service: the layout
    the registry's publisher expects (one ``server.json`` per directory)."""
    written = []
    for service in [None, *services]:
        path = out_dir / server_name(service) / "server.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(server_json(settings, service), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
