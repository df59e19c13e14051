"""``docs/tools.md``: every tool of every public server, from the golden data and the code.

Names, titles, roles, annotations and descriptions come from the golden data (``docs/tools.json``, as
``mcp_servers.catalog`` builds it), so the two files always agree. What runs behind each tool is read
from the code: the tool function (``ToolSpec.fn``) is parsed, every call it makes to a function of a
``tools.*`` module (outside ``tools.<service>.domain``) is a use case, and each use case is parsed in
turn for the domain rules it refers to directly: names and attributes that resolve, in its module's
globals, to functions, classes or constants of a ``tools.<service>.domain`` package. The other functions
of its own module that it calls (``_accept_locked``, ``place_bid_in``) are read as part of it; functions
of other modules are not followed. Annotations are not counted (never evaluated at run time).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_servers.composition import SERVICES
from mcp_servers.toolkit import ROLES_META
from mcp_servers.toolsets import META, toolset_of

__all__ = ["ROOT", "ToolCode", "UseCase", "read_tool", "render_markdown", "source_path"]

ROOT = Path(__file__).resolve().parents[1]
_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
# Never evaluated at run time (every module has ``from __future__ import annotations``).
_SKIPPED_FIELDS = frozenset({"annotation", "returns", "decorator_list"})


@dataclass(frozen=True, slots=True)
class UseCase:
    """One ``tools.*`` function a tool calls, and the domain rules it refers to directly."""

    ref: str  # tools/marketplace/offers.py::accept_offer
    awaited: bool
    rules: tuple[str, ...]
    helpers: tuple[str, ...]  # the other functions of its module it calls, read as part of it
    problem: str | None = None  # why the rules could not be read


@dataclass(frozen=True, slots=True)
class ToolCode:
    """Where a tool lives and what it calls."""

    module: str  # mcp_servers/marketplace/offers.py
    use_cases: tuple[UseCase, ...]
    other_calls: tuple[str, ...]  # other tools.* callables the tool calls itself (models, domain rules)
    problem: str | None = None  # why the tool's source could not be read


def source_path(module_name: str) -> str:
    """The file of a loaded module, relative to the repository root, in POSIX form."""
    module = sys.modules[module_name]
    file = Path(module.__file__ or "").resolve()
    try:
        return file.relative_to(ROOT).as_posix()
    except ValueError:  # installed outside the source tree: the path the module name gives
        return module_name.replace(".", "/") + ("/__init__.py" if file.name == "__init__.py" else ".py")


def _is_domain(module_name: str) -> bool:
    parts = module_name.split(".")
    return len(parts) >= 3 and parts[0] == "tools" and parts[2] == "domain"


def _ref(module_name: str, name: str) -> str:
    return f"{source_path(module_name)}::{name}"


def _function_node(fn: Callable[..., Any]) -> _FunctionNode:
    node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    if not isinstance(node, _FunctionNode):  # pragma: no cover - getsource of a function is its def
        raise TypeError(f"{fn.__qualname__} is not defined by a def statement")
    return node


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under ``node`` that runs when it runs: annotations and decorators left out."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        for field, value in ast.iter_fields(current):
            if field in _SKIPPED_FIELDS:
                continue
            children = value if isinstance(value, list) else [value]
            stack.extend(child for child in children if isinstance(child, ast.AST))


def _body(node: _FunctionNode) -> Iterator[ast.AST]:
    """What a function's calls run: its default values and its body."""
    yield from _runtime_nodes(node.args)
    for statement in node.body:
        yield from _runtime_nodes(statement)


def _local_names(node: _FunctionNode) -> set[str]:
    """Names bound anywhere inside the function: they shadow the module's globals."""
    bound: set[str] = set()
    declared_global: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.arg):
            bound.add(child.arg)
        elif isinstance(child, ast.Name) and not isinstance(child.ctx, ast.Load):
            bound.add(child.id)
        elif isinstance(child, _FunctionNode | ast.ClassDef) and child is not node:
            bound.add(child.name)
        elif isinstance(child, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in child.names)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            bound.add(child.name)
        elif isinstance(child, ast.Global):
            declared_global.update(child.names)
    return bound - declared_global


class _Scope:
    """Resolves a function's names and ``module.attribute`` chains the way Python would."""

    def __init__(self, fn: Callable[..., Any], node: _FunctionNode) -> None:
        self.namespace: dict[str, Any] = fn.__globals__
        self.local = _local_names(node)

    def resolve(self, expr: ast.expr) -> tuple[Any, str | None] | None:
        """The object ``expr`` names and, for ``module.name``, the module it was read from."""
        if isinstance(expr, ast.Name):
            if expr.id in self.local or expr.id not in self.namespace:
                return None
            return self.namespace[expr.id], None
        if isinstance(expr, ast.Attribute):
            base = self.resolve(expr.value)
            if base is None or not isinstance(base[0], types.ModuleType):
                return None  # attributes of values, not of modules, are not followed
            if not hasattr(base[0], expr.attr):
                return None
            return getattr(base[0], expr.attr), base[0].__name__
        return None


def _defined_in(obj: Any) -> tuple[str, str] | None:
    """The module and qualified name of a function or class."""
    target = inspect.unwrap(obj) if callable(obj) else obj
    if inspect.isfunction(target) or inspect.isclass(target) or inspect.ismethod(target):
        module, name = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
        if isinstance(module, str) and isinstance(name, str) and module in sys.modules:
            return module, name
    return None


@functools.cache
def _imported_names(module_name: str) -> dict[str, tuple[str, str]]:
    """``from M import n as a`` at a module's top level: a -> (M, n)."""
    module = sys.modules[module_name]
    tree = ast.parse(inspect.getsource(module))
    found: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), module.__package__)
            for alias in node.names:
                found[alias.asname or alias.name] = (source, alias.name)
    return found


def _origin(obj: Any, via: str | None, name: str, home: str) -> tuple[str, str] | None:
    """Where a referenced object comes from: a function's or class's own module, else the module it is
    read from (``module.CONSTANT``) or imported from (``from module import CONSTANT``)."""
    defined = _defined_in(obj)
    if defined is not None:
        return defined
    if isinstance(obj, types.ModuleType):
        return None
    source = (via, name) if via is not None else _imported_names(home).get(name)
    if source is None or source[0] not in sys.modules:
        return None
    if getattr(sys.modules[source[0]], source[1], None) is not obj:
        return None
    return source


def _references(fn: Callable[..., Any]) -> Iterator[tuple[Any, tuple[str, str] | None]]:
    """Every global object ``fn``'s code refers to, with where it comes from (when that is known)."""
    node = _function_node(fn)
    scope = _Scope(fn, node)
    for child in _body(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
            name = child.id
        elif isinstance(child, ast.Attribute) and isinstance(child.ctx, ast.Load):
            name = child.attr
        else:
            continue
        resolved = scope.resolve(child)
        if resolved is not None:
            yield resolved[0], _origin(resolved[0], resolved[1], name, fn.__module__)


def _is_helper(obj: Any, module: str, name: str, home: str) -> bool:
    """A top-level function of the module ``home`` (nested functions are read as part of their parent)."""
    return module == home and "." not in name and inspect.isfunction(obj)


def domain_rules(fn: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``tools.<service>.domain`` functions, classes and constants a use case refers to, and the
    other functions of its own module it calls (transitively), whose references count as its own."""
    fn = inspect.unwrap(fn)
    rules: set[str] = set()
    helpers: dict[str, Callable[..., Any]] = {fn.__qualname__: fn}
    pending = [fn]
    while pending:
        for obj, origin in _references(pending.pop()):
            if origin is None:
                continue
            module, name = origin
            if _is_domain(module):
                rules.add(_ref(module, name))
            elif _is_helper(obj, module, name, fn.__module__) and name not in helpers:
                helpers[name] = inspect.unwrap(obj)
                pending.append(helpers[name])
    del helpers[fn.__qualname__]
    return tuple(sorted(rules)), tuple(sorted(helpers))


def _use_case(obj: Any, awaited: bool) -> UseCase:
    defined = _defined_in(obj)
    assert defined is not None  # only functions of tools.* modules are use cases
    try:
        rules, helpers = domain_rules(obj)
    except (OSError, TypeError, SyntaxError) as exc:
        return UseCase(_ref(*defined), awaited, (), (), f"its source could not be read ({exc})")
    return UseCase(_ref(*defined), awaited, rules, helpers)


def read_tool(fn: Callable[..., Any]) -> ToolCode:
    """The module of a tool function, the use cases it calls (in source order) and its other calls into
    ``tools.*``."""
    module = source_path(fn.__module__)
    try:
        node = _function_node(fn)
    except (OSError, TypeError, SyntaxError) as exc:
        return ToolCode(module, (), (), f"the tool's source could not be read ({exc})")
    scope = _Scope(fn, node)
    awaited = {id(n.value) for n in _body(node) if isinstance(n, ast.Await)}
    calls = sorted(
        (n for n in _body(node) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset)
    )
    use_cases: dict[str, UseCase] = {}
    others: set[str] = set()
    for call in calls:
        resolved = scope.resolve(call.func)
        defined = None if resolved is None else _defined_in(resolved[0])
        if resolved is None or defined is None or defined[0].split(".")[0] != "tools":
            continue
        if inspect.isfunction(inspect.unwrap(resolved[0])) and not _is_domain(defined[0]):
            found = _use_case(resolved[0], id(call) in awaited)
            use_cases.setdefault(found.ref, found)
        else:
            others.add(_ref(*defined))
    return ToolCode(module, tuple(use_cases.values()), tuple(sorted(others)))


# The markdown -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    server: str
    name: str  # on the single-service server
    body: dict[str, Any]  # the golden definition
    code: ToolCode

    @property
    def composed(self) -> str:
        return f"{self.server}_{self.name}"


def _rows(data: dict[str, Any], server: str) -> list[_Row]:
    """One server's tools in listing order, checked against the golden data."""
    specs = [spec for toolset in SERVICES[server] for spec in toolset.specs]
    names = [spec.fn.__name__ for spec in specs]
    # The role views hold what a connection is shown before it chooses: not dynamic mode's own tools.
    shown = [name for name in names if toolset_of(name) != META]
    views: dict[str, list[str]] = data["servers"][f"caas-{server}"]["roles"]
    listed = {name for view in views.values() for name in view}
    stale = sorted(listed.symmetric_difference(shown)) + [
        f"{server}_{n}" for n in names if f"{server}_{n}" not in data["tools"]
    ]
    stale += [role for role, view in views.items() if [n for n in shown if n in view] != view]
    if stale:
        raise ValueError(f"the golden data disagrees with the code on {', '.join(stale)}")
    return [
        _Row(server, spec.fn.__name__, data["tools"][f"{server}_{spec.fn.__name__}"], read_tool(spec.fn))
        for spec in specs
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code_list(refs: tuple[str, ...], empty: str) -> str:
    return "<br>".join(f"`{r}`" for r in refs) if refs else empty


def _annotations(body: dict[str, Any]) -> str:
    hints = body.get("annotations", {})
    flags = [
        ("read-only", "readOnlyHint"),
        ("destructive", "destructiveHint"),
        ("idempotent", "idempotentHint"),
    ]
    return ", ".join(f"{label}: {'yes' if hints.get(key) else 'no'}" for label, key in flags)


def _roles(body: dict[str, Any]) -> str:
    return ", ".join(body.get("_meta", {}).get(ROLES_META, ())) or "none"


def _code_rows(code: ToolCode) -> list[tuple[str, str]]:
    rows = [("Server module", f"`{code.module}`")]
    if code.problem is not None:
        return [*rows, ("Use case", f"not resolved: {code.problem}")]
    if not code.use_cases:
        rows.append(("Use case", "none: the tool calls no `tools.*` function"))
    for case in code.use_cases:
        note = "" if case.awaited else " (called without await)"
        rows.append(("Use case", f"`{case.ref}`{note}"))
        if case.helpers:
            rows.append(("Read with it", ", ".join(f"`{h}`" for h in case.helpers)))
        rules = f"not resolved: {case.problem}" if case.problem else _code_list(case.rules, "none")
        rows.append(("Domain rules", rules))
    if code.other_calls:
        rows.append(("Other `tools.*` calls", _code_list(code.other_calls, "")))
    return rows


def _tool_section(row: _Row) -> list[str]:
    description = row.body.get("description", "").strip()
    fields = [
        ("Composed name", f"`{row.composed}` on `caas`"),
        ("Single-server name", f"`{row.name}` on `caas-{row.server}`"),
        ("Title", _cell(row.body.get("title", ""))),
        ("Roles", _roles(row.body)),
        ("Annotations", _annotations(row.body)),
        *_code_rows(row.code),
        ("Description", _cell(description.splitlines()[0]) if description else "none"),
    ]
    return [
        f"### {row.composed}",
        "",
        "| Field | Value |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in fields),
        "",
    ]


_HEADER = """# CaaS tools

Generated by `python -m mcp_servers.catalog` from `docs/tools.json` and the code: do not edit by hand
(`python -m mcp_servers.catalog --check` fails when this file is stale).

Each public server is a server of its own (`caas-<server>`, tools under their own names) and a prefix of
the composed server `caas` (tools named `<server>_<tool>`). Roles are the roles shown the tool and
allowed to call it. The use case is each `tools.*` function the tool function calls; "read with it" names
the other functions of the use case's module that it calls, directly or through each other. Its domain
rules are the functions, classes and constants of `tools.<service>.domain` packages that the use case or
those functions refer to; rules reached only through functions of other modules are not listed. Other
`tools.*` calls are the models or domain rules the tool function calls itself.
"""


def render_markdown(data: dict[str, Any]) -> str:
    """``docs/tools.md`` for the golden data ``data``: servers in ``SERVICES`` order, tools in listing
    order."""
    servers = {server: _rows(data, server) for server in SERVICES}
    lines = [_HEADER, "| Server | Single-service server | Tools |", "|---|---|---|"]
    lines += [f"| [{s}](#{s}) | `caas-{s}` | {len(rows)} |" for s, rows in servers.items()]
    for server, rows in servers.items():
        lines += ["", f"## {server}", "", "| Tool | Title | Roles |", "|---|---|---|"]
        lines += [
            f"| [`{r.composed}`](#{r.composed}) | {_cell(r.body.get('title', ''))} | {_roles(r.body)} |"
            for r in rows
        ]
        lines.append("")
        for row in rows:
            lines += _tool_section(row)
    return "\n".join(lines).rstrip("\n") + "\n"
