"""A real loopback HTTP server standing in for Supabase's PostgREST (``/rest/v1``).

It speaks the part of PostgREST's protocol the sync writer uses (GET with ``select`` and filters,
POST with ``on_conflict`` and ``Prefer: resolution=...``, PATCH with filters, ``Prefer: return=``)
and runs each request as SQL against the real Supabase test database, as ``service_role`` like the
real PostgREST does for the service-role key. It records every request for the tests to inspect.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import free_port

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_RESERVED = {"select", "on_conflict", "columns", "limit", "order"}


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

    def requests_to(self, table: str) -> list[SeenRequest]:
        return [r for r in self.seen if r.table == table]

    async def handle(self, request: Request) -> Response:
        table = request.path_params["table"]
        raw = await request.body()
        body = json.loads(raw) if raw else None
        self.seen.append(
            SeenRequest(
                request.method, table, list(request.query_params.multi_items()), dict(request.headers), body
            )
        )
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
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL ROLE service_role")
                types = await _column_types(conn, table)
                sql, args = _statement(
                    request.method, table, types, request.query_params.multi_items(), body, prefer
                )
                rows = json.loads(await conn.fetchval(sql, *args))
        except asyncpg.PostgresError as exc:
            return JSONResponse(
                {"code": exc.sqlstate, "message": str(exc), "details": None, "hint": None}, status_code=400
            )
        except LookupError as exc:
            return JSONResponse({"code": "PGRST204", "message": str(exc)}, status_code=400)
        finally:
            await conn.close()
        if request.method == "GET":
            return JSONResponse(rows)
        status = 201 if request.method == "POST" else 200
        if prefer.get("return") == "representation":
            return JSONResponse(rows, status_code=status)
        return Response(status_code=204 if request.method == "PATCH" else status)


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


def _statement(
    method: str,
    table: str,
    types: dict[str, str],
    params: list[tuple[str, str]],
    body: Any,
    prefer: dict[str, str],
) -> tuple[str, list[Any]]:
    args: list[Any] = []
    where: list[str] = []
    limit = ""
    columns = "*"
    for name, value in params:
        if name == "select":
            columns = ", ".join(_column(types, c.strip()) for c in value.split(","))
        elif name == "limit":
            limit = f" LIMIT {int(value)}"
        elif name not in _RESERVED:
            op, _, operand = value.partition(".")
            args.append(operand)
            where.append(f"{_column(types, name)} {_OPS[op]} ${len(args)}::text::{types[name]}")
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    target = f"public.{table}"
    if method == "GET":
        inner = f"SELECT {columns} FROM {target}{condition}{limit}"
    elif method == "POST":
        rows = body if isinstance(body, list) else [body]
        cols = ", ".join(_column(types, c) for c in rows[0])
        args.append(json.dumps(rows))
        conflict = ""
        key = dict(params).get("on_conflict")
        if key is not None:
            if prefer.get("resolution") == "ignore-duplicates":
                conflict = f" ON CONFLICT ({_column(types, key)}) DO NOTHING"
            else:
                sets = ", ".join(f"{_column(types, c)} = EXCLUDED.{_column(types, c)}" for c in rows[0])
                conflict = f" ON CONFLICT ({_column(types, key)}) DO UPDATE SET {sets}"
        inner = (
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM "
            f"json_populate_recordset(NULL::{target}, ${len(args)}::json){conflict} RETURNING *"
        )
    elif method == "PATCH":
        cols = ", ".join(_column(types, c) for c in body)
        args.append(json.dumps(body))
        source = f"(SELECT {cols} FROM json_populate_record(NULL::{target}, ${len(args)}::json))"
        inner = f"UPDATE {target} SET ({cols}) = {source}{condition} RETURNING *"
    else:
        raise LookupError(f"method {method} is not served by this double")
    return f"WITH r AS ({inner}) SELECT coalesce(json_agg(r), '[]'::json)::text FROM r", args


@asynccontextmanager
async def postgrest_double(dsn: str, key: str) -> AsyncIterator[PostgrestDouble]:
    double = PostgrestDouble(dsn, key)
    app = Starlette(routes=[Route("/rest/v1/{table}", double.handle, methods=["GET", "POST", "PATCH"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off", ws="none"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the PostgREST double did not start"
    double.url = f"http://127.0.0.1:{port}"
    try:
        yield double
    finally:
        server.should_exit = True
        await task
