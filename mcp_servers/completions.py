"""Argument completion (``completion/complete``) for resource templates and prompts, by argument name:
application references, loan ids, provider ids, currencies and toolsets.

Candidates come from the same role-scoped list use cases as the list tools, so a borrower is offered
only its own applications and loans, a provider its own provider and loans; a role that may not list
something is offered nothing. The newest records are searched (``_SCAN``): completion helps someone
type, it is not a search engine.
"""

from __future__ import annotations

import iso4217
import mcp_types
from fastmcp import FastMCP

from mcp_servers.credit import applications as application_tools
from mcp_servers.loans import loans as loan_tools
from mcp_servers.marketplace import providers as provider_tools
from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import current_runtime
from mcp_servers.toolset_tools import toolset_names
from tools.credit import applications
from tools.credit.models.applications import ListApplications
from tools.loans import listing
from tools.marketplace import providers
from tools.platform.domain.money import MoneyError, currency_exponent
from tools.platform.principal import Principal, Role

__all__ = ["ARGUMENTS", "register_completions"]

_SCAN = 100
_LIMIT = 20


def _lendable(code: str) -> bool:
    try:
        currency_exponent(code)
    except MoneyError:
        return False
    return True


CURRENCIES = sorted(c.code for c in iso4217.Currency if _lendable(c.code))


async def _applications(rt: Runtime, who: Principal) -> list[str]:
    if who.role not in application_tools.READERS:
        return []
    page = await applications.list_applications(rt.deps.credit, who, ListApplications(limit=_SCAN))
    return [a.reference for a in page.items]


async def _loans(rt: Runtime, who: Principal) -> list[str]:
    if who.role not in loan_tools.READERS:
        return []
    page = await listing.list_loans(rt.deps.loans, who, limit=_SCAN)
    return [str(item.id) for item in page.items]


async def _providers(rt: Runtime, who: Principal) -> list[str]:
    if who.role is Role.PROVIDER:
        return [who.provider_id] if who.provider_id else []
    if who.role not in provider_tools.STAFF_READERS:
        return []
    page = await providers.list_providers(rt.deps.marketplace, None, None, None, None, _SCAN, None)
    return [str(p.id) for p in page.items]


async def _currencies(_: Runtime, __: Principal) -> list[str]:
    return CURRENCIES


async def _toolsets(_: Runtime, who: Principal) -> list[str]:
    return await toolset_names(who.role)


# Argument names (of resource templates and prompts) and where their candidates come from.
ARGUMENTS = {
    "application": _applications,
    "loan": _loans,
    "provider": _providers,
    "currency": _currencies,
    "toolset": _toolsets,
}


async def complete(
    ref: mcp_types.PromptReference | mcp_types.ResourceTemplateReference,
    argument: mcp_types.CompletionArgument,
    context: mcp_types.CompletionContext | None,
) -> mcp_types.Completion:
    source = ARGUMENTS.get(argument.name)
    if source is None:
        return mcp_types.Completion(values=[])
    runtime = current_runtime()
    typed = argument.value.strip().casefold()
    found = [v for v in await source(runtime, runtime.principals.current()) if v.casefold().startswith(typed)]
    return mcp_types.Completion(values=found[:_LIMIT], total=len(found), has_more=len(found) > _LIMIT)


def register_completions(server: FastMCP) -> None:
    server.completion(complete)
