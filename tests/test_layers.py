"""Dependency direction, read from the source with ``ast`` (every import statement, including those
inside functions and ``TYPE_CHECKING`` blocks, and ``importlib.import_module("...")`` calls):

    mcp_servers -> tools, database, adapters;  database, adapters -> tools;  tools -> nothing of ours
    outside tools, and no transport or driver;  tools.<service>.domain -> nothing of ours outside the
    domain packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"tools", "database", "adapters", "mcp_servers", "tests"}
TRANSPORTS = {"fastmcp", "mcp", "mcp_types", "asyncpg", "starlette", "uvicorn"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module named by an import in ``source``, relative imports resolved against ``module``.
    ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a submodule)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            if target:
                found.add(target)
            found.update(f"{target}.{alias.name}".lstrip(".") for alias in node.names if alias.name != "*")
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/: the rule would pass vacuously"
    return files


def violations(package: str, allowed) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for path in sources(package):
        module = module_name(path)
        for name in sorted(imports(path.read_text(), module, path.name == "__init__.py")):
            if not allowed(name):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def top(name: str) -> str:
    return name.split(".")[0]


def test_tools_import_no_transport_driver_or_outer_layer() -> None:
    forbidden = TRANSPORTS | (OURS - {"tools"})
    assert violations("tools", lambda name: top(name) not in forbidden) == []


def is_domain(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 3 and parts[0] == "tools" and parts[2] == "domain"


@pytest.mark.parametrize("domain", sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("tools/*/domain")))
def test_domain_rules_import_nothing_of_ours_outside_the_domain_packages(domain: str) -> None:
    assert violations(domain, lambda name: top(name) not in OURS or is_domain(name)) == []


@pytest.mark.parametrize("package", ["database", "adapters"])
def test_database_and_adapters_never_import_the_mcp_layer(package: str) -> None:
    forbidden = {"mcp_servers", "fastmcp", "mcp", "mcp_types", "tests"}
    assert violations(package, lambda name: top(name) not in forbidden) == []


CHECKER_CASES = {
    "plain import": ("import fastmcp", "tools.x", {"fastmcp"}),
    "dotted import": ("import mcp.types as t", "tools.x", {"mcp.types"}),
    "from import": ("from asyncpg import Pool", "tools.x", {"asyncpg", "asyncpg.Pool"}),
    "inside a function": ("def f():\n    import uvicorn\n", "tools.x", {"uvicorn"}),
    "type checking only": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from database import pool\n",
        "tools.x",
        {"typing", "typing.TYPE_CHECKING", "database", "database.pool"},
    ),
    "relative, one level": (
        "from .money import to_minor",
        "tools.domain.x",
        {"tools.domain.money", "tools.domain.money.to_minor"},
    ),
    "relative, two levels": ("from .. import principal", "tools.domain.x", {"tools", "tools.principal"}),
    "relative from a package": ("from . import x", "tools.domain", {"tools.domain", "tools.domain.x"}),
    "dynamic": (
        "import importlib\nimportlib.import_module('starlette')",
        "tools.x",
        {"importlib", "starlette"},
    ),
}


@pytest.mark.parametrize(("source", "module", "expected"), CHECKER_CASES.values(), ids=CHECKER_CASES.keys())
def test_the_import_reader_sees_every_form_of_import(source: str, module: str, expected: set[str]) -> None:
    assert imports(source, module, is_package=module == "tools.domain") == expected
