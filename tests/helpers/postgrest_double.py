"""A real loopback HTTP server standing in for Supabase's PostgREST (``/rest/v1``).

It speaks the part of PostgREST's protocol the Supabase writers use (GET and HEAD with ``select``,
filters, ``or``/``and`` trees, ``order``, ``limit`` and ``Prefer: count=exact``; POST with
``on_conflict`` and ``Prefer: resolution=...``; PATCH and DELETE with filters; ``Prefer: return=``)
and runs each request as SQL against the real Supabase test database, as ``service_role`` like the
real PostgREST does for the service-role key. It records every request for the tests to inspect.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers.common import serving

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_IS = {"null": "NULL", "true": "TRUE", "false": "FALSE"}
_RESERVED = {"select", "on_conflict", "columns", "limit", "order"}

# The service-role key the tests' doubles accept (and the writers under test send).
DOUBLE_KEY = "service-role-key-of-the-postgrest-double"


@dataclass
class SeenRequest:
    method: str
    table: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any


@dataclass
class PostgrestDouble:
    dsn: str
    key: str
    url: str = ""
    down: bool = False
    seen: list[SeenRequest] = field(default_factory=list)
    # A benchmark's settings: PostgREST keeps a pool (a connection per request would time the double,
    # not the client), and tens of thousands of requests need not be kept.
    pool: asyncpg.Pool | None = None
    record: bool = True

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self.pool is not None:
            async with self.pool.acquire() as pooled:
                yield pooled
            return
        conn = await asyncpg.connect(self.dsn)
        try:
            yield conn
        finally:
            await conn.close()

    def requests_to(self, table: str) -> list[SeenRequest]:
        return [r for r in self.seen if r.table == table]

    async def handle(self, request: Request) -> Response:
        table = request.path_params["table"]
        raw = await request.body()
        body = json.loads(raw) if raw else None
        if self.record:
            params = list(request.query_params.multi_items())
            self.seen.append(SeenRequest(request.method, table, params, dict(request.headers), body))
        if self.down:
            return JSONResponse({"message": "upstream unavailable"}, status_code=503)
        if (
            request.headers.get("apikey") != self.key
            or request.headers.get("authorization") != f"Bearer {self.key}"
        ):
            return JSONResponse({"code": "PGRST301", "message": "JWT invalid"}, status_code=401)
        prefer = {
            k.strip(): v.strip()
            for part in request.headers.get("prefer", "").split(",")
            if "=" in part
            for k, v in [part.split("=", 1)]
        }
        try:
            async with self._connection() as conn, conn.transaction():
                await conn.execute("SET LOCAL ROLE service_role")
                types = await _column_types(conn, table)
                sql, args = _statement(
                    request.method, table, types, request.query_params.multi_items(), body, prefer
                )
                rows = json.loads(await conn.fetchval(sql, *args))
                total = None
                if prefer.get("count") == "exact" and request.method in ("GET", "HEAD"):
                    count_sql, count_args = _count(table, types, request.query_params.multi_items())
                    total = await conn.fetchval(count_sql, *count_args)
        except asyncpg.PostgresError as exc:
            return JSONResponse(
                {"code": exc.sqlstate, "message": str(exc), "details": None, "hint": None}, status_code=400
            )
        except LookupError as exc:
            return JSONResponse({"code": "PGRST204", "message": str(exc)}, status_code=400)
        if total is not None:
            # PostgREST's Content-Range: the rows sent (or * for none) over the exact total.
            sent = f"0-{len(rows) - 1}" if rows else "*"
            headers = {"Content-Range": f"{sent}/{total}"}
            if request.method == "HEAD":
                return Response(status_code=200, headers=headers)
            return JSONResponse(rows, headers=headers)
        if request.method in ("GET", "HEAD"):
            return JSONResponse(rows) if request.method == "GET" else Response(status_code=200)
        status = 201 if request.method == "POST" else 200
        if prefer.get("return") == "representation":
            return JSONResponse(rows, status_code=status)
        return Response(status_code=204 if request.method in ("PATCH", "DELETE") else status)


async def _column_types(conn: asyncpg.Connection, table: str) -> dict[str, str]:
    if not _NAME.match(table):
        raise LookupError(f"no table {table!r}")
    rows = await conn.fetch(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
           WHERE a.attrelid = to_regclass('public.' || $1) AND a.attnum > 0 AND NOT a.attisdropped""",
        table,
    )
    if not rows:
        raise LookupError(f"no table {table!r}")
    return {r["attname"]: r["type"] for r in rows}


def _column(types: dict[str, str], name: str) -> str:
    if name not in types:
        raise LookupError(f"no column {name!r}")
    return f'"{name}"'


def _split(text: str) -> list[str]:
    """Split a logic tree's list on its top-level commas (not inside quotes or parentheses)."""
    parts: list[str] = []
    depth, quoted, current = 0, False, ""
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _condition(types: dict[str, str], name: str, value: str, args: list[Any]) -> str:
    """One filter as SQL: ``col=op.value``, or an ``or``/``and`` tree like PostgREST's."""
    if name in ("or", "and"):
        if not (value.startswith("(") and value.endswith(")")):
            raise LookupError(f"malformed {name} filter")
        inner = []
        for item in _split(value[1:-1]):
            head, _, rest = item.partition("(")
            if head in ("or", "and") and rest:
                inner.append(_condition(types, head, "(" + rest, args))
            else:
                column, _, filter_ = item.partition(".")
                inner.append(_condition(types, column, filter_, args))
        return "(" + f" {name.upper()} ".join(inner) + ")"
    op, _, operand = value.partition(".")
    column = _column(types, name)
    if op == "is":
        if operand not in _IS:
            raise LookupError(f"is.{operand} is not a PostgREST filter")
        return f"{column} IS {_IS[operand]}"
    if op == "in":
        if not (operand.startswith("(") and operand.endswith(")")):
            raise LookupError("malformed in filter")
        args.append([_unquote(v) for v in _split(operand[1:-1])])
        return f"{column} = ANY(${len(args)}::text[]::{types[name]}[])"
    if op not in _OPS:
        raise LookupError(f"operator {op!r} is not served by this double")
    args.append(_unquote(operand))
    return f"{column} {_OPS[op]} ${len(args)}::text::{types[name]}"


def _where(types: dict[str, str], params: list[tuple[str, str]], args: list[Any]) -> str:
    where = [_condition(types, name, value, args) for name, value in params if name not in _RESERVED]
    return f" WHERE {' AND '.join(where)}" if where else ""


def _order(types: dict[str, str], value: str) -> str:
    terms = []
    for term in value.split(","):
        column, *modifiers = term.split(".")
        direction = " DESC" if "desc" in modifiers else " ASC"
        nulls = {"nullsfirst": " NULLS FIRST", "nullslast": " NULLS LAST"}
        terms.append(_column(types, column) + direction + "".join(nulls.get(m, "") for m in modifiers))
    return " ORDER BY " + ", ".join(terms)


def _count(table: str, types: dict[str, str], params: list[tuple[str, str]]) -> tuple[str, list[Any]]:
    args: list[Any] = []
    return f"SELECT count(*) FROM public.{table}{_where(types, params, args)}", args


def _statement(
    method: str,
    table: str,
    types: dict[str, str],
    params: list[tuple[str, str]],
    body: Any,
    prefer: dict[str, str],
) -> tuple[str, list[Any]]:
    args: list[Any] = []
    limit = ""
    order = ""
    columns = "*"
    for name, value in params:
        if name == "select":
            columns = ", ".join(_column(types, c.strip()) for c in value.split(","))
        elif name == "limit":
            limit = f" LIMIT {int(value)}"
        elif name == "order":
            order = _order(types, value)
    condition = _where(types, params, args)
    target = f"public.{table}"
    if method in ("GET", "HEAD"):
        inner = f"SELECT {columns} FROM {target}{condition}{order}{limit}"
    elif method == "POST":
        rows = body if isinstance(body, list) else [body]
        cols = ", ".join(_column(types, c) for c in rows[0])
        args.append(json.dumps(rows))
        conflict = ""
        key = dict(params).get("on_conflict")
        if key is not None:
            keys = ", ".join(_column(types, k.strip()) for k in key.split(","))
            if prefer.get("resolution") == "ignore-duplicates":
                conflict = f" ON CONFLICT ({keys}) DO NOTHING"
            else:
                sets = ", ".join(f"{_column(types, c)} = EXCLUDED.{_column(types, c)}" for c in rows[0])
                conflict = f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"
        inner = (
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM "
            f"json_populate_recordset(NULL::{target}, ${len(args)}::json){conflict} RETURNING *"
        )
    elif method == "PATCH":
        cols = ", ".join(_column(types, c) for c in body)
        args.append(json.dumps(body))
        source = f"(SELECT {cols} FROM json_populate_record(NULL::{target}, ${len(args)}::json))"
        inner = f"UPDATE {target} SET ({cols}) = {source}{condition} RETURNING *"
    elif method == "DELETE":
        inner = f"DELETE FROM {target}{condition} RETURNING *"
    else:
        raise LookupError(f"method {method} is not served by this double")
    return f"WITH r AS ({inner}) SELECT coalesce(json_agg(r), '[]'::json)::text FROM r", args


@asynccontextmanager
async def postgrest_double(dsn: str, key: str) -> AsyncIterator[PostgrestDouble]:
    double = PostgrestDouble(dsn, key)
    app = Starlette(
        routes=[Route("/rest/v1/{table}", double.handle, methods=["GET", "HEAD", "POST", "PATCH", "DELETE"])]
    )
    async with serving(app, lifespan="off") as url:
        double.url = url
        yield double
