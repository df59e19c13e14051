"""Issue 11, item 4: each tool's annotations say what the tool does, held against the code it runs.

The code a tool runs is read as ``docs/tools.md`` reads it, but followed through every function of
``tools.*`` and ``mcp_servers.*`` it calls or hands on (a use case, its helpers, the helpers' helpers):

- it *writes* when it opens a unit of work (``deps.uow()``) or calls a port method that changes
  something outside a read (``deps.support.mark_read``, ``deps.deliveries.requeueing``);
- it *reaches the open world* when it calls a port we do not own: the payment gateway, Supabase (the
  document store, the notification and support stores, the status mirror, email and SMS) or a lender's
  webhook endpoint. Two tools reach it through a worker instead, by queueing the very thing the worker
  sends (``QUEUED``); any other event a tool records is the outbox's business, not the call's.

Before, every tool said openWorldHint false (the gateway's and Supabase's too), disburse_loan, which pays
money out for good, was not destructive, and match_providers, which invited lenders when asked, said it
was not read-only while most of its calls read.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from mcp_servers.composition import SERVICES
from mcp_servers.toolkit import ToolSpec

# Attributes of the services' dependencies that are systems we do not own.
OUTSIDE = {"gateway": "payment gateway", "sender": "lenders' webhooks", "store": "Supabase / storage"}
OUTSIDE |= {"support": "Supabase", "comms": "email/SMS", "mirror": "Supabase"}
# Stores of ours or theirs whose other methods change something.
STORES = set(OUTSIDE) | {"deliveries"}
READS = {"inbox", "unread_count", "preferences", "summaries", "list", "get", "messages", "by_job"}
# The pending-action store (tools/platform/confirmation.py) is a port named ``store``; these change it.
SETTLES = {"open", "settle", "decline"}
# Tools whose call queues the very thing a worker then sends out.
QUEUED = {
    "disburse_loan": "records the payout the payment worker sends to the gateway",
    "retry_webhook_delivery": "requeues a webhook the delivery worker POSTs to the lender",
    "confirm_action": "runs the confirmed money move it names (found at run time), a payout among them",
}
# Money that leaves the platform cannot be called back.
MUST_BE_DESTRUCTIVE = {"disburse_loan"}


@dataclass
class Reach:
    writes: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    seen: set[Any] = field(default_factory=set)


def _target(node: ast.AST, scope: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        module = scope.get(node.value.id)
        if isinstance(module, types.ModuleType):
            return getattr(module, node.attr, None)
    return None


def _ours(fn: Any) -> bool:
    module = getattr(fn, "__module__", "") or ""
    return (
        inspect.isfunction(fn)
        and module.startswith(("tools.", "mcp_servers."))
        and module != "mcp_servers.toolkit"
    )


def _port_call(node: ast.Call, reach: Reach, where: str) -> None:
    func = node.func
    if not isinstance(func, ast.Attribute):
        return
    if func.attr == "uow":
        reach.writes.append(f"{where}: opens a unit of work")
    port = func.value.attr if isinstance(func.value, ast.Attribute) else None
    if port in OUTSIDE:
        reach.outside.append(f"{where}: {port}.{func.attr} ({OUTSIDE[port]})")
    if port in STORES and func.attr not in READS:
        reach.writes.append(f"{where}: {port}.{func.attr}")
    if isinstance(func.value, ast.Name) and func.value.id == "store" and func.attr in SETTLES:
        reach.writes.append(f"{where}: store.{func.attr} (a pending action)")
    if func.attr == "set_state":  # the session's state (the toolsets a dynamic session enabled)
        reach.writes.append(f"{where}: set_state")


def walk(fn: Callable[..., Any], reach: Reach) -> Reach:
    """What ``fn`` and every function of ours it calls or passes on does."""
    fn = inspect.unwrap(fn)
    if fn in reach.seen:
        return reach
    reach.seen.add(fn)
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    where = f"{fn.__module__}.{fn.__qualname__}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _port_call(node, reach, where)
        target = _target(node, fn.__globals__)
        if _ours(target):
            walk(target, reach)
    return reach


def specs() -> list[tuple[str, ToolSpec]]:
    return [(f"{svc}_{s.fn.__name__}", s) for svc, sets in SERVICES.items() for ts in sets for s in ts.specs]


@pytest.mark.parametrize(("name", "spec"), specs(), ids=[name for name, _ in specs()])
def test_read_only_means_the_tool_changes_nothing(name: str, spec: ToolSpec) -> None:
    reach = walk(spec.fn, Reach())
    if spec.read_only:
        assert not reach.writes, f"{name} says readOnlyHint but writes: {reach.writes}"
        assert not spec.destructive, f"{name} is read-only, so it destroys nothing"
    else:
        assert reach.writes or spec.fn.__name__ in QUEUED, f"{name} writes nothing: mark it read_only"


@pytest.mark.parametrize(("name", "spec"), specs(), ids=[name for name, _ in specs()])
def test_open_world_means_the_call_reaches_a_system_we_do_not_own(name: str, spec: ToolSpec) -> None:
    reach = walk(spec.fn, Reach())
    outside = bool(reach.outside) or spec.fn.__name__ in QUEUED
    why = reach.outside or QUEUED.get(spec.fn.__name__, "it reaches only our own database")
    assert spec.open_world == outside, f"{name}: openWorldHint must be {outside}: {why}"


def test_paying_money_out_is_destructive() -> None:
    flagged = {spec.fn.__name__ for _, spec in specs() if spec.destructive}
    assert flagged >= MUST_BE_DESTRUCTIVE


# Moves that happen once to their object: a second call is a conflict that changes nothing, so an
# agent may retry one whose answer it lost.
ONCE_ONLY = {"reverse_journal", "write_off_loan", "write_off_payout"}


def test_a_move_that_happens_once_is_idempotent_in_effect() -> None:
    flagged = {spec.fn.__name__ for _, spec in specs() if spec.idempotent}
    assert flagged >= ONCE_ONLY


def test_matching_reads_and_inviting_writes() -> None:
    by_name = {spec.fn.__name__: spec for _, spec in specs()}
    assert by_name["match_providers"].read_only and not by_name["invite_providers"].read_only
    assert by_name["invite_providers"].idempotent


def test_the_reader_sees_a_port_call_and_a_write_in_a_helper() -> None:
    """The reader itself can fail: a port call two functions down is found."""

    async def helper(deps: Any) -> None:
        async with deps.uow():
            await deps.gateway.transfer()

    reach = Reach()
    reach.seen.add(helper)  # read below by hand: a nested function has no module globals of ours
    tree = ast.parse(textwrap.dedent(inspect.getsource(helper)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _port_call(node, reach, "helper")
    assert reach.outside == ["helper: gateway.transfer (payment gateway)"]
    assert reach.writes == ["helper: opens a unit of work", "helper: gateway.transfer"]
