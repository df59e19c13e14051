"""Resources beside the tools: an application and its timeline, a loan, a provider's commission plan
and monthly statement, a toolset (the loan schedule and the risk model live with their tools).

Each resource is its read tool's use case under the same roles: resources bypass the tool gate
(``mcp_servers.toolkit.as_tool``), so each read checks its tool's roles here, and a record the caller
may not see answers ``not_found`` exactly as the tool does. They are added to the top-level server, so
that an address is the same whether its service runs alone or composed (a mount would rewrite it).
"""

from __future__ import annotations

import calendar
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import date

from fastmcp import FastMCP
from fastmcp.exceptions import FastMCPError, ResourceError
from pydantic import BaseModel

from mcp_servers.prompt_arguments import refused
from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import current_runtime, internal_error
from mcp_servers.toolset_views import ToolsetTools, toolset_tools
from tools.credit import applications
from tools.loans import commissions, loans
from tools.marketplace import providers
from tools.platform.errors import DomainError, InvalidArgument
from tools.platform.models import EARLIEST_DAY, LATEST_DAY
from tools.platform.principal import Principal, Role

__all__ = [
    "APPLICATION_URI",
    "COMMISSION_PLAN_URI",
    "LOAN_URI",
    "STATEMENT_URI",
    "TIMELINE_URI",
    "TOOLSET_URI",
    "guarded_read",
    "register_resources",
]

# Template parameters are named as the tools name their arguments (issue 11): application, loan, provider.
APPLICATION_URI = "caas://applications/{application}"
TIMELINE_URI = "caas://applications/{application}/timeline"
LOAN_URI = "caas://loans/{loan}"
STATEMENT_URI = "caas://providers/{provider}/statements/{month}"
COMMISSION_PLAN_URI = "caas://providers/{provider}/commission-plan"
TOOLSET_URI = "caas://toolsets/{toolset}"
JSON = "application/json"
Reader = Callable[[Runtime, Principal], Awaitable[BaseModel]]
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])\Z")


async def guarded_read(name: str, roles: Iterable[Role], read: Reader) -> str:
    """``read`` as the caller, if the caller's role may; its result as JSON, its refusal as a coded error."""
    runtime = current_runtime()
    caller = runtime.principals.current()
    allowed = frozenset(roles)
    try:
        if caller.role not in allowed:
            open_to = ", ".join(sorted(r.value for r in allowed))
            raise refused(
                f"permission_denied: {name} is open to {open_to}; you are signed in as {caller.role}. "
                "Use a token for one of those roles"
            )
        view = await read(runtime, caller)
    except FastMCPError:
        raise
    except DomainError as exc:
        # The caller's mistake (an unknown toolset, a month out of range, someone else's object):
        # invalid params (-32602), as the tools answer it, not an internal error.
        raise refused(f"{exc.code}: {exc.message}") from None
    except Exception as exc:
        # Without this, fastmcp would log the exception's text and answer without a request id.
        error = internal_error(name, exc)
        raise ResourceError(f"{error.code}: {error.message}", log_level=logging.DEBUG) from None
    return view.model_dump_json()


async def application(application: str) -> str:
    """A credit application, as get_application returns it (JSON)."""
    # Imported here: a server carrying another service never loads this service's tool modules.
    from mcp_servers.credit import applications as application_tools

    return await guarded_read(
        "application",
        application_tools.READERS,
        lambda rt, who: applications.get_application(rt.deps.credit, who, application),
    )


async def application_timeline(application: str) -> str:
    """Every status change of an application, as get_application_timeline returns it (JSON)."""
    from mcp_servers.credit import applications as application_tools

    return await guarded_read(
        "application_timeline",
        application_tools.READERS,
        lambda rt, who: applications.get_application_timeline(rt.deps.credit, who, application),
    )


async def loan(loan: str) -> str:
    """A loan (its id or its application's reference), as get_loan returns it (JSON)."""
    from mcp_servers.loans import loans as loan_tools

    return await guarded_read(
        "loan", loan_tools.READERS, lambda rt, who: loans.get_loan(rt.deps.loans, who, loan)
    )


def _month(month: str) -> tuple[date, date]:
    found = _MONTH.match(month)
    year, number = (int(found[1]), int(found[2])) if found else (0, 0)
    if not (EARLIEST_DAY.year <= year <= LATEST_DAY.year and 1 <= number <= 12):
        raise InvalidArgument(
            f"month is not a calendar month between {EARLIEST_DAY:%Y-%m} and {LATEST_DAY:%Y-%m}; write it "
            "as YYYY-MM, e.g. 2026-01"
        )
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


async def commission_statement(provider: str, month: str) -> str:
    """A provider's commission statement for one calendar month (YYYY-MM) in its lending currency, as
    get_commission_statement returns its first page of 100 lines (JSON): the month's totals, next_cursor
    for the tool when the month has more lines, and other_currencies, which the tool states with
    currency."""

    async def read(rt: Runtime, who: Principal) -> BaseModel:
        return await commissions.get_commission_statement(rt.deps.loans, who, provider, _month(month), 100)

    from mcp_servers.loans import commissions as commission_tools

    return await guarded_read("commission_statement", commission_tools.STATEMENT_READERS, read)


async def commission_plan(provider: str) -> str:
    """A provider's commission plan: principal rate, currency tiers, caps and interest share (JSON)."""

    async def read(rt: Runtime, who: Principal) -> BaseModel:
        return (await providers.get_provider(rt.deps.marketplace, who, provider)).commission_plan

    from mcp_servers.marketplace import providers as provider_tools

    return await guarded_read("commission_plan", provider_tools.READERS, read)


async def toolset(toolset: str) -> str:
    """A toolset: what it is for, whether this connection has it enabled, and the tools of it you may
    call on this server (JSON); list_toolsets lists them all."""
    return await guarded_read("toolset", Role, lambda _, who: _toolset(toolset, who))


async def _toolset(name: str, who: Principal) -> ToolsetTools:
    return await toolset_tools(name, who.role)


def _adder(
    server: FastMCP, render: Callable[[str], str]
) -> Callable[[str, Callable[..., Awaitable[str]]], None]:
    def add(uri: str, fn: Callable[..., Awaitable[str]]) -> None:
        # The description names tools as this server exposes them (``render``).
        description = render(inspect.getdoc(fn) or "")
        server.resource(uri, name=fn.__name__, mime_type=JSON, description=description)(fn)

    return add


def register_resources(server: FastMCP, service: str | None, render: Callable[[str], str] = str) -> None:
    """The resources of ``service`` (all of them on the composed server, ``service=None``)."""
    add = _adder(server, render)
    if service in (None, "credit"):
        add(APPLICATION_URI, application)
        add(TIMELINE_URI, application_timeline)
        add(LOAN_URI, loan)
        add(STATEMENT_URI, commission_statement)
    if service in (None, "admin"):
        add(COMMISSION_PLAN_URI, commission_plan)
    add(TOOLSET_URI, toolset)
