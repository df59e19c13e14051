"""A use case that holds its unit of work's connection reads through that unit of work, never through a
pooled reader of ``deps``: that would take a second connection from the same pool while holding the
first, and as many such calls at once as the pool has connections would each wait for a second forever
(a service process's pool has 3). Read from the source with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Supabase-side stores: another database and another pool, written after the system-of-record row on
# purpose (tools/notifications), so they cannot starve the pool the transaction holds.
OTHER_POOLS = {"deps.store", "deps.support"}


def pooled_reads_inside_a_unit_of_work(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.AsyncWith):
            continue
        if not any("uow" in ast.unparse(item.context_expr) for item in node.items):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Await) and isinstance(inner.value, ast.Call):
                called = ast.unparse(inner.value.func)
                owner = called.rsplit(".", 1)[0]
                if called.startswith("deps.") and owner not in OTHER_POOLS:
                    found.append(f"{inner.lineno}: {called}")
    return found


def test_no_use_case_reads_through_the_pool_while_its_unit_of_work_is_open() -> None:
    found = {
        str(path.relative_to(ROOT)): hits
        for path in sorted((ROOT / "tools").rglob("*.py"))
        if (hits := pooled_reads_inside_a_unit_of_work(path.read_text()))
    }
    assert found == {}


def test_the_rule_sees_a_pooled_read_inside_and_not_outside_or_through_the_unit_of_work() -> None:
    source = """
async def approve(deps, handle):
    app = await deps.applications.get(handle)
    async with deps.uow() as uow:
        locked = await uow.applications.lock(handle)
        steps = await deps.applications.timeline(locked.id)
        await deps.store.set_preferences("u", [])
"""
    assert pooled_reads_inside_a_unit_of_work(source) == ["6: deps.applications.timeline"]
