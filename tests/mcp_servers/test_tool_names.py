"""Issue 11, item 3: every tool name an agent reads, in a description or an error message, is a name
the server it talks to exposes. Before, 22 names in descriptions (``list_review_queue``) did not exist
on the composed server (``credit_list_review_queue``), so an agent following a description called an
unknown tool.

Mentions are found as a reader would: any snake_case word that is a tool's name in any form (plain or
composed), or that starts with a tool verb (``list_``, ``retry_``, ...) and is no field or value of any
schema, which catches a name that no server has (a renamed or never-built tool).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client, FastMCP

from mcp_servers.catalog import server_names
from mcp_servers.composition import SERVICES, build_server, tool_names
from mcp_servers.runtime import Runtime
from tests.helpers.errors import error_of
from tools.platform.errors import DomainError
from tools.platform.principal import Role

ROOT = Path(__file__).resolve().parents[2]
PLAIN = {spec.fn.__name__: owner for owner, sets in SERVICES.items() for ts in sets for spec in ts.specs}
KNOWN = set(PLAIN) | {f"{owner}_{name}" for name, owner in PLAIN.items()}
VERBS = {name.split("_")[0] for name in PLAIN}
WORD = re.compile(r"(?<![A-Za-z0-9_.$/-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![A-Za-z0-9_])")
# Words that start with a tool verb and are neither tools nor schema fields: the risk policy's settings.
NOT_TOOLS = {"approve_cutoff", "decline_cutoff"}
ELSEWHERE = re.compile(r" \(on the caas-([a-z]+) server\)")


def _schema_words(schema: Any, into: set[str]) -> set[str]:
    """Every property name and string value of a schema: a word that is a field or a value there is
    not a tool mention."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                into.update(value)
            if key != "description":
                _schema_words(value, into)
    elif isinstance(schema, list):
        for item in schema:
            _schema_words(item, into)
    elif isinstance(schema, str):
        into.add(schema)
    return into


async def _listing(server: FastMCP) -> list[Any]:
    return list(await server.list_tools(run_middleware=False))


def _not_tools(tools: list[Any]) -> set[str]:
    words: set[str] = set()
    for tool in tools:
        _schema_words(tool.parameters, words)
        _schema_words(tool.output_schema, words)
    return (words | NOT_TOOLS) - KNOWN


def mentions(text: str, not_tools: set[str]) -> Iterator[tuple[str, str | None]]:
    """Each tool mention in ``text`` with the server it is said to be on, if one is named."""
    for match in WORD.finditer(text):
        word = match.group(0)
        if word in KNOWN or (word.split("_")[0] in VERBS and word not in not_tools):
            elsewhere = ELSEWHERE.match(text, match.end())
            yield word, elsewhere.group(1) if elsewhere else None


def wrong_mentions(text: str, service: str | None, exposed: set[str], not_tools: set[str]) -> list[str]:
    wrong = []
    for word, server in mentions(text, not_tools):
        if server is None and word in exposed:
            continue
        # A tool another single-service server carries is named with that server.
        if server is not None and service is not None and PLAIN.get(word) == server != service:
            continue
        wrong.append(word if server is None else f"{word} (on caas-{server})")
    return wrong


def _texts(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "description" and isinstance(value, str):
                yield value
            else:
                yield from _texts(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _texts(item)


@pytest.mark.parametrize("service", server_names(), ids=lambda s: s or "composed")
async def test_descriptions_name_only_tools_their_server_exposes(
    runtime: Runtime, service: str | None
) -> None:
    server = build_server(runtime, service)
    tools = await _listing(server)
    exposed = {tool.name for tool in tools}
    not_tools = _not_tools(await _listing(build_server(runtime)))
    wrong: dict[str, list[str]] = {}
    for tool in tools:
        texts = [tool.description or "", *_texts(tool.parameters), *_texts(tool.output_schema)]
        found = [w for text in texts for w in wrong_mentions(text, service, exposed, not_tools)]
        if found:
            wrong[tool.name] = found
    for resource in [*await server.list_resources(), *await server.list_resource_templates()]:
        found = wrong_mentions(resource.description or "", service, exposed, not_tools)
        if found:
            wrong[str(resource.name)] = found
    assert not wrong, f"{server.name} names tools it does not expose: {wrong}"


ERRORS = {cls.__name__ for cls in (DomainError, *DomainError.__subclasses__())} | {
    "CaasToolError",
    "ResourceError",
    "ValueError",
}


def _strings(node: ast.AST) -> Iterator[tuple[int, str]]:
    """The string literals under ``node``, an f-string with its holes as {}."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.lineno, child.value
        elif isinstance(child, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in child.values]
            yield child.lineno, "".join(str(p) for p in parts)


def _error_templates(path: Path) -> Iterator[tuple[int, str]]:
    """The messages of a module's errors: the strings of every raise, and of every error built to be
    raised elsewhere (``Conflict(...)``, ``CaasToolError(...)``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise):
            yield from _strings(node)
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in ERRORS:
                yield from _strings(node)


async def test_every_error_template_names_tools_as_each_server_exposes_them(runtime: Runtime) -> None:
    """Messages are written once, in the use cases and the transport, and rendered by the server that
    answers (``ErrorMapping``): every tool they name must exist, and render on every server shape to a
    name that server has."""
    not_tools = _not_tools(await _listing(build_server(runtime)))
    files = sorted([*(ROOT / "tools").rglob("*.py"), *(ROOT / "mcp_servers").rglob("*.py")])
    wrong: list[str] = []
    for service in server_names():
        names = tool_names(service)
        exposed = {tool.name for tool in await _listing(build_server(runtime, service))}
        for path in files:
            for line, text in _error_templates(path):
                for word in wrong_mentions(names.render(text), service, exposed, not_tools):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} {word} on {service or 'composed'}")
    assert not wrong, "\n".join(sorted(set(wrong)))


@pytest.mark.parametrize(
    ("service", "expected"), [(None, "providers_invite_providers"), ("providers", "invite_providers")]
)
async def test_an_error_message_names_the_tool_as_the_answering_server_exposes_it(
    runtime: Runtime, principal: Any, service: str | None, expected: str
) -> None:
    server = build_server(runtime, service)
    match = "providers_match_providers" if service is None else "match_providers"
    principal("names-operator", Role.OPERATOR)
    async with Client(server) as client:
        result = await client.call_tool(
            match, {"application": "CAAS-2026-000001", "invite": True}, raise_on_error=False
        )
    error = error_of(result)
    assert error is not None
    message = error["message"]
    assert f"call {expected} " in message and message.startswith(f"{match} no longer"), message


def test_a_tool_of_another_single_service_server_is_named_with_its_server() -> None:
    names = tool_names("credit")
    assert names.render("score it with score_application") == (
        "score it with score_application (on the caas-risk server)"
    )
    assert names.render("then credit_list_review_queue, not provider_id") == (
        "then list_review_queue, not provider_id"
    )
    assert tool_names(None).render("list_review_queue") == "credit_list_review_queue"
