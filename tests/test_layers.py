"""The shape of the code, read from the source with ``ast`` (every import statement, including those
inside functions and ``TYPE_CHECKING`` blocks, and ``importlib.import_module("...")`` calls).

Layers: ``mcp_servers -> tools, database, adapters``; ``database, adapters -> tools``; ``tools`` ->
nothing of ours outside ``tools`` and no transport or driver; ``tools.<service>.domain`` -> nothing of
ours outside the domain packages.

Services: inside each layer one package per service (``credit``, ``risk``, ``marketplace``, ``loans``,
``ledger``, ``payments``, ``notifications``, ``monitoring``) plus ``platform``, which every service
shares. A module of one service may import another service's *public* modules only:

- in ``tools``: the other service's ``ports``, ``models``, ``domain`` and the modules listed in its
  package's ``__all__`` (``tools/credit/__init__.py`` says ``__all__ = ["access", "lifecycle", ...]``);
- in ``database``, ``adapters`` and ``mcp_servers``: the modules listed in that layer's package
  ``__all__`` for the service (usually none);
- anything in a ``platform`` package.

The composition root (modules at the top of ``mcp_servers``, ``database`` and ``adapters``, outside any
service package: ``app``, ``wiring``, ``runtime``, ...) may import anything, since wiring the services
together is its job. ``examples`` are clients: they import none of ours. Size: no Python file over 400
lines and no function over 70 lines (first decorator to last line), in the product, its tests, its
benchmarks and its examples.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"tools", "database", "adapters", "mcp_servers", "tests"}
LAYERS = ("tools", "database", "adapters", "mcp_servers")
TRANSPORTS = {"fastmcp", "mcp", "mcp_types", "asyncpg", "starlette", "uvicorn"}
SERVICES = ("credit", "risk", "marketplace", "loans", "ledger", "payments", "notifications", "monitoring")
ALWAYS_PUBLIC = {"tools": {"ports", "models", "domain"}}
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 70


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
    # Installed packages are not ours: .venv, and npm's node_modules (Node ships lldb_commands.py).
    files = sorted(p for p in (ROOT / package).rglob("*.py") if not {".venv", "node_modules"} & set(p.parts))
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


def test_examples_are_clients_that_import_nothing_of_the_product() -> None:
    # examples/ shows a lender (or any outsider) what it needs: MCP tools and webhooks, not our code.
    assert violations("examples", lambda name: top(name) not in OURS) == []


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


def public_modules(layer: str, service: str) -> set[str]:
    """What other services may import of ``layer.service`` (see the module docstring)."""
    declared = getattr(importlib.import_module(f"{layer}.{service}"), "__all__", ())
    return ALWAYS_PUBLIC.get(layer, set()) | set(declared)


def is_module(layer: str, service: str, name: str) -> bool:
    return (ROOT / layer / service / f"{name}.py").exists() or (ROOT / layer / service / name).is_dir()


def reaches_internals(importer_service: str, name: str) -> bool:
    """True when ``name`` is a module of another service that it does not make public."""
    parts = name.split(".")
    if len(parts) < 3 or parts[0] not in LAYERS or parts[1] not in SERVICES or parts[1] == importer_service:
        return False
    layer, service, module = parts[:3]
    return is_module(layer, service, module) and module not in public_modules(layer, service)


def cross_service_violations(layer: str) -> list[str]:
    found = []
    for service in (*SERVICES, "platform"):
        package = ROOT / layer / service
        if not package.is_dir():
            continue
        for path in sources(f"{layer}/{service}"):
            for name in sorted(imports(path.read_text(), module_name(path), path.name == "__init__.py")):
                if reaches_internals(service, name):
                    found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_a_service_reaches_another_service_only_through_its_public_modules(layer: str) -> None:
    assert cross_service_violations(layer) == []


def test_tools_have_a_package_per_service() -> None:
    packages = {p.parent.name for p in (ROOT / "tools").glob("*/__init__.py")}
    assert packages == {"platform", *SERVICES}


@pytest.mark.parametrize("layer", LAYERS)
def test_each_service_package_says_what_it_holds(layer: str) -> None:
    for name in ("platform", *SERVICES):
        init = ROOT / layer / name / "__init__.py"
        if init.exists():
            assert ast.get_docstring(ast.parse(init.read_text())), (
                f"{init.relative_to(ROOT)} has no docstring"
            )


def test_the_public_declarations_name_modules_that_exist() -> None:
    for layer in LAYERS:
        for service in SERVICES:
            if (ROOT / layer / service).is_dir():
                declared = set(public_modules(layer, service)) - ALWAYS_PUBLIC.get(layer, set())
                assert {m for m in declared if not is_module(layer, service, m)} == set(), (layer, service)


def test_the_rule_catches_an_import_of_another_services_internals() -> None:
    # tools.loans.aging is not public: a marketplace module importing it must be reported, while its
    # public loans module and any platform module pass.
    assert reaches_internals("marketplace", "tools.loans.aging.age_loans")
    assert not reaches_internals("marketplace", "tools.loans.loans.can_view_loan")
    assert not reaches_internals("marketplace", "tools.loans.domain.schedules")
    assert not reaches_internals("loans", "tools.loans.aging")
    assert not reaches_internals("payments", "tools.platform.jobs")
    assert reaches_internals("credit", "mcp_servers.payments.payments")


def python_files() -> list[Path]:
    return [p for d in (*LAYERS, "tests", "bench", "examples") for p in sources(d)]


def long_functions(source: str) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            length = (node.end_lineno or node.lineno) - start + 1
            if length > MAX_FUNCTION_LINES:
                found.append((node.name, length))
    return found


def test_no_file_is_longer_than_one_sitting() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in python_files()
        if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_seventy_lines() -> None:
    long = {
        f"{p.relative_to(ROOT)}::{name}": n
        for p in python_files()
        for name, n in long_functions(p.read_text())
    }
    assert long == {}


def test_the_size_rules_measure_from_the_decorator_to_the_last_line() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 2))
    source = f"@decorator\ndef f():\n{body}\n"
    assert long_functions(source) == []
    assert long_functions(source + "    return x0\n") == [("f", MAX_FUNCTION_LINES + 1)]


def differ_by_one_letter(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    shorter, longer = sorted((a, b), key=len)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def test_no_two_module_names_differ_by_one_letter() -> None:
    # payment_ports beside payments_ports sent readers to the wrong file; a name is either the same
    # (the same subject in another layer or service) or clearly another.
    names = {p.stem for layer in LAYERS for p in sources(layer) if p.stem != "__init__"}
    names |= {
        p.name for layer in LAYERS for p in (ROOT / layer).rglob("*") if p.is_dir() and "__" not in p.name
    }
    pairs = sorted((a, b) for a in names for b in names if a < b and differ_by_one_letter(a, b))
    assert pairs == []


def test_the_name_rule_sees_a_letter_added_or_changed() -> None:
    assert differ_by_one_letter("payment_ports", "payments_ports")
    assert differ_by_one_letter("worker", "workers")
    assert differ_by_one_letter("app", "apr")
    assert not differ_by_one_letter("bids", "bidding")
    assert not differ_by_one_letter("loans", "loans")


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
