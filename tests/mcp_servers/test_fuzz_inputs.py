"""Fuzzing every tool's input schema through a real MCP client over Streamable HTTP (issue 10).

Hypothesis draws arguments from each tool's own input schema, with any value swapped for a hostile one
(NUL, lone surrogates, control characters, exponents, non-ASCII digits, JSON numbers where strings
belong, huge numbers, wrong types), and a caller of a role that may or may not call the tool. Whatever
comes in: no ``internal``, no HTTP 5xx, ``permission_denied`` for a caller without the role whatever the
arguments, and nothing written by a refused call (row counts of every table in both databases).

The cases are drawn first (seeded, so a failure reproduces) and then sent one by one; the test prints
how many calls it made.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import hypothesis
import pytest
from fastmcp import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mcp_servers.composition import build_server
from mcp_servers.runtime import Runtime
from mcp_servers.toolkit import ROLES_META
from tests.helpers.common import SERVICE_KEY, application, make_jwt, serving
from tests.helpers.errors import error_code
from tests.helpers.providers import provider_body, uid
from tools.platform.principal import Principal, Role

log = logging.getLogger("caas.tests.fuzz")
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
# Per tool: arguments within the schema, the same with one value made hostile (the rest valid, so the
# hostile one is what reaches the use case), and arguments where any value may be hostile.
VALID_PER_TOOL = 8
HOSTILE_PER_TOOL = 4
MUTATIONS_OF_GOOD = 4
HOSTILE_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x \udfff y",
    "\x1b[2J",
    "\u0085",
    "\x7f",
    "\r\n",
    "\u202egnp.exe",
    "1e3",
    " 100",
    "\u0661\u0660\u0660",
    "+1",
    "NaN",
    "-0",
    "9" * 400,
    "'; DROP TABLE caas_core.applications; --",
    "%s%s%n",
    "../../etc/passwd",
    "",
    " ",
    "CAAS-2026-000001\x00",
    "\ufeff",
    "😀" * 60,
    # Blank text long enough for a minimum length: a reason of twelve spaces was an internal error.
    " " * 12,
    "\u3000" * 12,
]
OFFSETS = [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=14))]
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(st.characters(codec="utf-8", max_codepoint=0x9F), max_size=12),
    st.sampled_from([0, -1, 10**30, -(10**30), 1e308, -1e-308, 0.24, 100, 2**63, 1.5, True, False]),
    st.sampled_from([None, [], {}, [[[[[]]]]], {"a": {"b": {"c": "\x00"}}}, ["\x00"]]),
)


def _valid_string(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "pattern" in schema:
        text = st.from_regex(schema["pattern"], fullmatch=True)
    elif schema.get("format") == "email":
        text = st.emails()
    elif schema.get("format") == "date-time":
        # Any year with the widest offsets too: year 1 at +14:00 is before year 1 in UTC (an overflow).
        text = st.datetimes(timezones=st.sampled_from(OFFSETS)).map(lambda d: d.isoformat())
    elif schema.get("format") == "date":
        text = st.one_of(st.dates(), st.sampled_from([date.min, date.max])).map(lambda d: d.isoformat())
    elif schema.get("format") == "uuid":
        text = st.uuids().map(str)
    else:
        text = st.text(max_size=40)
    most = schema.get("maxLength")
    return text.filter(lambda s: most is None or len(s) <= most) if most else text


def _valid(schema: dict[str, Any], hostile: bool, depth: int) -> st.SearchStrategy[Any]:
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(option, hostile, depth) for option in schema["anyOf"]])
    kind = schema.get("type")
    if isinstance(kind, list):  # an optional value: "type": [T, "null"]
        return st.one_of([_valid(schema | {"type": one}, hostile, depth) for one in kind])
    if kind == "object":
        props = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        return st.fixed_dictionaries(
            {k: from_schema(v, hostile, depth + 1) for k, v in props.items() if k in required},
            optional={k: from_schema(v, hostile, depth + 1) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        most = min(schema.get("maxItems", 3), 3)
        return st.lists(from_schema(schema.get("items") or {}, hostile, depth + 1), max_size=most)
    if kind == "string":
        return _valid_string(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum", -(10**6)), schema.get("maximum", 10**6))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return HOSTILE


def from_schema(schema: dict[str, Any], hostile: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    """What the schema describes; with ``hostile``, any value may be a hostile one instead."""
    valid = _valid(schema, hostile, depth) if depth < 6 else st.none()
    return st.one_of(valid, HOSTILE) if hostile else valid


def draw(strategy: st.SearchStrategy[Any], count: int, seed: int) -> list[Any]:
    """``count`` examples of ``strategy``, generated (not shrunk) by Hypothesis, reproducibly."""
    found: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @hypothesis.seed(seed)
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found[:count]


TABLES = (
    "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS t FROM information_schema.tables "
    "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
    "AND table_schema NOT LIKE 'pg_%'"
)


async def row_counter(db: asyncpg.Connection) -> str:
    """One query giving the row count of every table of ours in ``db``."""
    tables = [r["t"] for r in await db.fetch(TABLES)]
    return " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM {t}" for t in tables)


async def table_rows(counters: list[tuple[asyncpg.Connection, str]]) -> dict[str, int]:
    return {r["t"]: r["n"] for db, query in counters for r in await db.fetch(query)}


@pytest.fixture(scope="module")
async def mcp_url(runtime: Runtime) -> AsyncIterator[str]:
    server = build_server(runtime, api_keys={SERVICE_KEY: Principal("onasis-mcp", Role.SERVICE)})
    async with serving(server.http_app(path="/mcp", stateless_http=True)) as url:
        yield f"{url}/mcp"


async def _clients(mcp_url: str, provider_id: str) -> dict[Role, Client]:
    tokens = {role: make_jwt(f"fuzz-{role.value}-{uuid.uuid4().hex[:8]}", role=role.value) for role in Role}
    tokens[Role.PROVIDER] = make_jwt(
        f"fuzz-lender-{uuid.uuid4().hex[:8]}", role="provider", provider_id=provider_id
    )
    tokens[Role.SERVICE] = SERVICE_KEY
    http = httpx.AsyncClient(timeout=30)
    clients = {}
    for role, token in tokens.items():
        clients[role] = Client(mcp_url, auth=token, timeout=30)
        clients[role].raw = (http, mcp_url, token)  # type: ignore[attr-defined]
    return clients


def good_examples(lender: str) -> dict[str, tuple[Role, dict[str, Any]]]:
    """Arguments that pass every check, for tools that store caller text, so one hostile value in them
    is what reaches the use case and the database."""
    return {
        "credit_submit_application": (
            Role.BORROWER,
            {"application": application(purpose_detail="grow my shop")},
        ),
        "credit_draft_application": (
            Role.BORROWER,
            {"application": application(purpose_detail="a new oven")},
        ),
        "admin_onboard_provider": (Role.ADMIN, {"provider": provider_body()}),
        "admin_update_provider": (Role.ADMIN, {"provider": lender, "changes": {"name": uid("Bank")}}),
        "notifications_open_support_conversation": (
            Role.BORROWER,
            {"subject": "help", "message": "my loan?"},
        ),
        "credit_list_applications": (Role.OPERATOR, {"borrower_id": "user-1", "national_id": "12345678"}),
        "notifications_list_notifications": (Role.OPERATOR, {"user_id": "user-1"}),
        "notifications_list_support_conversations": (Role.OPERATOR, {"user_id": "user-1"}),
        "credit_get_application": (Role.OPERATOR, {"application": "CAAS-2026-000001"}),
        "payments_list_payments": (Role.OPERATOR, {"loan": str(uuid.uuid4())}),
        "admin_get_account_balance": (Role.ADMIN, {"account": "platform:commission_income:NGN"}),
    }


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return [path] if path else []


# Characters PostgreSQL cannot store and control characters: the class of issue 10, item 1.
UNSTORABLE = ["a\x00b", "\x00", "x\x1by", "x\x85y", "\x7f", "a\rb", "a\x0cb"]


def _replaced(arguments: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    mutated = json.loads(json.dumps(arguments))
    *parents, last = path
    target = mutated
    for key in parents:
        target = target[key]
    target[last] = value
    return mutated


def one_hostile_leaf(arguments: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``arguments`` with one value (the rest stay valid) swapped for a hostile string or number."""
    leaves = _leaves(arguments)
    if not leaves:
        return arguments
    pool = UNSTORABLE if rng.random() < 0.5 else [*HOSTILE_TEXT, 100, 0.24, 1e308, None, ["\x00"]]
    return _replaced(arguments, rng.choice(leaves), rng.choice(pool))


def each_text_unstorable(arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """One case per text value of ``arguments``, that value holding an unstorable character."""
    texts = [path for path in _leaves(arguments) if isinstance(_at(arguments, path), str)]
    return [_replaced(arguments, path, UNSTORABLE[i % len(UNSTORABLE)]) for i, path in enumerate(texts)]


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _cases(tools: list[Any], lender: str) -> list[tuple[str, Role, dict[str, Any]]]:
    cases: list[tuple[str, Role, dict[str, Any]]] = []
    roles = list(Role)
    for index, tool in enumerate(tools):
        allowed = sorted(Role(r) for r in (tool.meta or {}).get(ROLES_META, ()))
        schema, rng = tool.input_schema, random.Random(index)
        valid = [
            a if isinstance(a, dict) else {} for a in draw(from_schema(schema, False), VALID_PER_TOOL, index)
        ]
        drawn = valid[:3] + [one_hostile_leaf(a, rng) for a in valid[3:]]
        drawn += draw(from_schema(schema, hostile=True), HOSTILE_PER_TOOL, seed=index)
        for arguments in drawn:
            role = rng.choice(roles) if rng.random() < 0.15 else rng.choice(allowed)
            cases.append((tool.name, role, arguments if isinstance(arguments, dict) else {}))
    rng = random.Random(0)
    for name, (role, example) in good_examples(lender).items():
        cases.append((name, role, example))
        cases += [(name, role, mutated) for mutated in each_text_unstorable(example)]
        cases += [(name, role, one_hostile_leaf(example, rng)) for _ in range(MUTATIONS_OF_GOOD)]
    names = draw(st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=30)), 20, seed=999)
    cases += [(name or "x", Role.BORROWER, {}) for name in names]
    return cases


def _has_surrogate(value: Any) -> bool:
    return "\\ud" in json.dumps(value).lower()


async def _send_raw(
    http: httpx.AsyncClient, url: str, token: str, name: str, arguments: Any
) -> dict[str, Any]:
    """A tools/call as JSON with escaped lone surrogates, which the MCP client cannot encode (it sends
    UTF-8); the same Streamable HTTP endpoint, one stateless request of the handshake era."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    headers = {"Authorization": f"Bearer {token}", "MCP-Protocol-Version": "2025-11-25", **JSON_HEADERS}
    response = await http.post(url, content=json.dumps(body), headers=headers)
    assert response.status_code < 500, f"{name}: HTTP {response.status_code}"
    # split on "\n" only: the JSON may hold U+0085 or U+2028, which str.splitlines() also splits on
    lines = [line[5:] for line in response.text.split("\n") if line.startswith("data:")]
    message = json.loads(lines[-1] if lines else response.text)
    if message.get("error", {}).get("code") == -32700:  # the transport refuses the JSON itself: fine
        assert response.status_code == 400
        refusal = [{"type": "text", "text": "parse_error: the transport refused the JSON"}]
        return {"isError": True, "content": refusal, "_meta": {"caas/error_code": "parse_error"}}
    assert "result" in message, f"{name}: {message!r:.300}"
    return dict(message["result"])


async def _send(client: Client, name: str, arguments: dict[str, Any]) -> str | None:
    """The call's error code (None when it succeeded); a transport failure or 5xx raises."""
    if _has_surrogate([name, arguments]):  # a tool's name too: the client cannot send it either
        http, url, token = client.raw  # type: ignore[attr-defined]
        result: Any = await _send_raw(http, url, token, name, arguments)
    else:
        result = await client.call_tool(name, arguments, raise_on_error=False)
    # error_of holds every error to the shape a schema-validating client accepts
    return error_code(result)


async def test_every_tool_survives_hostile_arguments_over_http(  # type: ignore[no-untyped-def]
    mcp_url: str, client, principal, core_db: asyncpg.Connection, supa: asyncpg.Connection, record_property
) -> None:
    principal("fuzz-operator", Role.OPERATOR)
    lender = (
        await client.call_tool("admin_onboard_provider", {"provider": provider_body()})
    ).structured_content
    clients = await _clients(mcp_url, lender["provider"]["id"])
    for c in clients.values():
        await c.__aenter__()
    try:
        tools = {t.name: t for t in await clients[Role.SERVICE].list_tools()}
        tools |= {t.name: t for t in await clients[Role.ADMIN].list_tools()}
        tools |= {t.name: t for t in await clients[Role.PROVIDER].list_tools()}
        cases = _cases(sorted(tools.values(), key=lambda t: t.name), lender["provider"]["id"])
        counters = [(db, await row_counter(db)) for db in (core_db, supa)]
        outcomes: Counter[str] = Counter()
        failures: list[str] = []
        for name, role, arguments in cases:
            before = await table_rows(counters)
            try:
                code = await _send(clients[role], name, arguments)
            except Exception as exc:  # a 5xx or a broken stream: the server failed this call
                failures.append(f"{name} as {role}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            outcomes[code or "ok"] += 1
            allowed = name in tools and role.value in (tools[name].meta or {}).get(ROLES_META, ())
            if code in {"internal", "unavailable"} or (
                name in tools and not allowed and code not in {"permission_denied", "parse_error"}
            ):
                failures.append(f"{name} as {role} -> {code}: {arguments!r:.300}")
            if code is not None and await table_rows(counters) != before:
                failures.append(f"{name} as {role} -> {code} but rows changed: {arguments!r:.300}")
    finally:
        for c in clients.values():
            await c.__aexit__(None, None, None)
    record_property("fuzz_calls", len(cases))
    log.warning("fuzz: %d calls over Streamable HTTP to %d tools: %s", len(cases), len(tools), dict(outcomes))
    assert not failures, "\n".join(failures[:30])
    assert len(tools) >= 60 and sum(outcomes.values()) == len(cases)


async def test_the_mcp_endpoint_bounds_body_depth_and_size(mcp_url: str) -> None:
    """The MCP library's own limits, checked so an upgrade that drops them shows up here."""
    headers = {"Authorization": f"Bearer {SERVICE_KEY}", **JSON_HEADERS}
    call = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"credit_get_application",'
    deep = call + b'"arguments":{"application":' + b"[" * 100_000 + b"]" * 100_000 + b"}}}"
    huge = call + b'"arguments":{"application":"' + b"a" * (20 * 1024 * 1024) + b'"}}}'
    async with httpx.AsyncClient(timeout=60) as http:
        assert (await http.post(mcp_url, content=deep, headers=headers)).status_code == 400
        assert (await http.post(mcp_url, content=huge, headers=headers)).status_code == 413
