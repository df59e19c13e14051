"""The caller's IP address in an audit row: both ways of writing the row (``record_audit`` and the
one-statement writes' ``audit_row_sql``) store the address the server saw, IPv4 or IPv6, or NULL, and
send it as text for PostgreSQL to make an inet (asyncpg would parse an inet parameter in Python)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from starlette.requests import Request

from database.platform.audit import audit_args, audit_row_sql, record_audit
from mcp_servers.platform.request_context import client_ip_of
from tools.platform.ports import AuditRecord, Invocation, OutboxEvent
from tools.platform.principal import Principal, Role

ADDRESSES = pytest.mark.parametrize("ip", ["203.0.113.7", "2001:db8::1", None])


def call(ip: str | None) -> Invocation:
    who = Principal(f"op-{uuid.uuid4().hex[:8]}", Role.OPERATOR)
    return Invocation(who, "tests.audit", "a" * 64, f"req-{uuid.uuid4().hex[:8]}", ip)


def one_statement_sql() -> str:
    return f"""
    WITH written AS (SELECT $8::text AS id), audit AS ({audit_row_sql(1, "probe", "id", "written")})
    SELECT 1"""


async def stored(db: asyncpg.Connection, object_id: str) -> list[tuple[object, ...]]:
    rows = await db.fetch(
        "SELECT principal_id, principal_role, tool, object_type, args_sha256, outcome, request_id,"
        " client_ip::text AS ip FROM caas_audit.audit_log WHERE object_id = $1",
        object_id,
    )
    return [tuple(r) for r in rows]


@ADDRESSES
async def test_record_audit_stores_the_callers_address_with_its_row_and_event(
    core_db: asyncpg.Connection, ip: str | None
) -> None:
    c, object_id = call(ip), str(uuid.uuid4())
    event = OutboxEvent("probe", object_id, "probe.audited", {"n": 1})
    await record_audit(core_db, AuditRecord(c, "probe", object_id), [event])
    expected = None if ip is None else f"{ip}/{32 if '.' in ip else 128}"
    assert await stored(core_db, object_id) == [
        (
            c.principal.subject,
            "operator",
            "tests.audit",
            "probe",
            "a" * 64,
            "succeeded",
            c.request_id,
            expected,
        )
    ]
    events = await core_db.fetch(
        "SELECT event_type, payload FROM caas_core.outbox WHERE aggregate_id = $1", object_id
    )
    assert [(e["event_type"], e["payload"]) for e in events] == [("probe.audited", {"n": 1})]


@ADDRESSES
async def test_a_one_statement_write_stores_the_callers_address(
    core_db: asyncpg.Connection, ip: str | None
) -> None:
    c, object_id = call(ip), str(uuid.uuid4())
    await core_db.execute(one_statement_sql(), *audit_args(c), object_id)
    expected = None if ip is None else f"{ip}/{32 if '.' in ip else 128}"
    assert await stored(core_db, object_id) == [
        (
            c.principal.subject,
            "operator",
            "tests.audit",
            "probe",
            "a" * 64,
            "succeeded",
            c.request_id,
            expected,
        )
    ]


async def test_the_address_is_sent_as_text_so_asyncpg_does_not_parse_it(core_db: asyncpg.Connection) -> None:
    from database.platform import audit

    for sql in (audit._RECORD, one_statement_sql()):
        types = [t.name for t in (await core_db.prepare(sql)).get_parameters()]
        assert "inet" not in types and "text" in types, types


@pytest.mark.parametrize(
    ("peer", "kept"),
    [
        ("fe80::1%eth0", "fe80::1/128"),  # a link-local peer's zone: a probe's find (the insert failed)
        ("2001:DB8:0::1", "2001:db8::1/128"),
        ("198.51.100.4", "198.51.100.4/32"),
        ("unknown", None),  # a forwarded value that is no address
        ("1.2.3.4%eth0", None),
    ],
)
async def test_whatever_address_the_server_is_given_the_audit_row_is_written(
    core_db: asyncpg.Connection, peer: str, kept: str | None
) -> None:
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": [], "client": (peer, 4242)})
    c, object_id = call(client_ip_of(request)), str(uuid.uuid4())
    await record_audit(core_db, AuditRecord(c, "probe", object_id), [])
    assert [row[-1] for row in await stored(core_db, object_id)] == [kept]
