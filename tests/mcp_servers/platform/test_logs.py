"""Log lines: JSON with the request, caller and tool; one request id in logs, audit and errors; a flood
of one error is a line per second with a count."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from pythonjsonlogger.json import JsonFormatter

from mcp_servers.platform.logs import ContextFilter, RateLimitFilter, TextFormatter, json_formatter
from mcp_servers.platform.redaction import PersonalDataFilter
from mcp_servers.platform.request_context import bound, usable_request_id
from tests.helpers.common import (
    SERVICE_KEY,
    TEST_ACCOUNT_NUMBER,
    TEST_DOB,
    TEST_NATIONAL_ID,
    application,
    caas_command,
    caas_env,
    error_code,
    free_port,
)
from tests.helpers.errors import error_message
from tests.helpers.pgbouncer import core_env
from tests.helpers.registry import eventually

# Every JSON line carries these keys (null when they do not apply).
KEYS = {
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "subject",
    "tool",
    "duration_ms",
    "outcome",
    "trace_id",
    "span_id",
}


class MovedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(message: str, level: int = logging.ERROR, name: str = "caas.tools") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_a_flood_of_one_error_passes_once_a_second_and_then_says_how_many_were_withheld() -> None:
    clock = MovedClock()
    limiter = RateLimitFilter(clock=clock)
    assert limiter.filter(record("database down"))
    passed = []
    for _ in range(50):
        clock.now += 0.01
        passed.append(limiter.filter(record("database down")))
    assert not any(passed)
    clock.now = 1000.999
    assert not limiter.filter(record("database down"))
    clock.now = 1001.0  # a second after the first line
    again = record("database down")
    assert limiter.filter(again)
    assert again.suppressed == 51
    clock.now += 1.0
    quiet = record("database down")
    assert limiter.filter(quiet)
    assert not hasattr(quiet, "suppressed")  # nothing was withheld in between


def test_distinct_messages_levels_and_loggers_are_limited_apart_and_info_never() -> None:
    limiter = RateLimitFilter(clock=MovedClock())
    assert limiter.filter(record("database down"))
    assert limiter.filter(record("gateway down"))
    assert limiter.filter(record("database down", logging.WARNING))
    assert limiter.filter(record("database down", name="uvicorn.error"))
    assert not limiter.filter(record("database down"))
    assert all(limiter.filter(record("tool call ok", logging.INFO)) for _ in range(10))


def test_the_limiter_forgets_the_oldest_messages_beyond_what_it_remembers() -> None:
    clock = MovedClock()
    limiter = RateLimitFilter(clock=clock, remembered=3)
    for n in range(4):
        assert limiter.filter(record(f"error {n}"))
    assert limiter.filter(record("error 0"))  # forgotten, so it passes again
    assert not limiter.filter(record("error 3"))


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    for f in (PersonalDataFilter(), ContextFilter()):
        handler.addFilter(f)
    logger = logging.getLogger("caas.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_every_field_and_the_bound_request_subject_and_tool(
    json_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = json_lines
    logger.info("outside any request")
    with bound("req-1", tool="credit_get_loan", subject="user-1"):
        logger.warning("inside", extra={"outcome": "ok", "duration_ms": 1.5})
    outside, inside = lines(stream)
    assert set(outside) == KEYS
    assert outside["request_id"] is None and outside["level"] == "INFO"
    assert datetime.fromisoformat(outside["time"]).utcoffset() is not None
    assert inside == {
        "time": inside["time"],
        "level": "WARNING",
        "logger": "caas.test.logs",
        "message": "inside",
        "request_id": "req-1",
        "subject": "user-1",
        "tool": "credit_get_loan",
        "duration_ms": 1.5,
        "outcome": "ok",
        "trace_id": None,
        "span_id": None,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"msg": "tool t: ok in %.1f ms", "args": (1.25,), "request_id": "r", "outcome": "ok"},
        {"msg": "naïve €", "tool": None, "trace_id": "ab" * 16, "span_id": "cd" * 8},
        {"msg": "withheld", "suppressed": 3, "stack": "frame"},
        {"msg": {"event": "a dict message"}},
        {"msg": "odd values", "duration_ms": datetime(2026, 1, 2, 3, 4, 5), "_private": 1},
        {"msg": "failed", "exc_text": "Traceback: boom"},
    ],
)
def test_a_json_line_is_the_one_the_json_library_writes(fields: dict[str, Any]) -> None:
    formatter = json_formatter()
    base = {"name": "caas.calls", "levelno": logging.INFO, "levelname": "INFO", "created": 1.5e9}
    ours, theirs = (logging.makeLogRecord({**base, **fields}) for _ in range(2))
    assert formatter.format(ours) == JsonFormatter.format(formatter, theirs)


def test_an_exception_in_a_json_line_is_redacted(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = json_lines
    try:
        raise ValueError(f"duplicate national id {TEST_NATIONAL_ID}")
    except ValueError:
        logger.exception("lookup failed")
    (line,) = lines(stream)
    assert TEST_NATIONAL_ID not in json.dumps(line)
    assert "ValueError" in line["exc_info"]


def test_a_text_line_names_the_request_and_the_withheld_count() -> None:
    rec = record("database down")
    rec.request_id, rec.tool, rec.suppressed = "req-9", "credit_get_loan", 3
    text = TextFormatter().format(rec)
    assert "ERROR caas.tools database down [request_id=req-9 tool=credit_get_loan]" in text
    assert text.endswith("(3 identical lines withheld)")


@pytest.mark.subprocess
def test_library_loggers_and_warnings_come_out_as_json_lines_through_one_handler() -> None:
    script = """
import logging, warnings
from mcp_servers.platform.logs import configure_logging
from tests.helpers.errors import error_message
configure_logging("INFO", "json")
logging.getLogger("fastmcp.server").warning("from fastmcp")
logging.getLogger("uvicorn.error").error("from uvicorn")
logging.getLogger("asyncpg.pool").warning("from asyncpg")
logging.getLogger("mcp.server").info("hidden: the SDK is quiet below WARNING")
warnings.warn("from warnings", UserWarning, stacklevel=1)
raise RuntimeError("uncaught")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], env=caas_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == ""
    seen = [json.loads(line) for line in done.stderr.splitlines()]
    assert all(set(line) >= KEYS for line in seen), done.stderr
    by_logger = {line["logger"]: line for line in seen}
    assert {"fastmcp.server", "uvicorn.error", "asyncpg.pool", "py.warnings", "caas"} == set(by_logger)
    assert "from warnings" in by_logger["py.warnings"]["message"]
    assert by_logger["caas"]["level"] == "CRITICAL" and "RuntimeError" in by_logger["caas"]["exc_info"]


@pytest.fixture
async def served(fresh_database: Any, tmp_path: Path) -> AsyncIterator[tuple[str, str, list[str]]]:
    """``caas serve`` in a process of its own on fresh databases: (base URL, core DSN, stderr lines so
    far). It is stopped with SIGTERM and must exit 0."""
    core = await fresh_database()
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *caas_command(),
        "serve",
        "--port",
        str(port),
        env=caas_env(
            CAAS_DATA_DIR=str(tmp_path / "data"),
            **core_env(core),
            SUPABASE_DB_URL=await fresh_database(),
            CAAS_SERVICE_API_KEY=SERVICE_KEY,
            CAAS_WORKERS="false",
            CAAS_REGISTRY="false",
            CAAS_SANDBOX="true",
        ),
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    err: list[str] = []

    async def read() -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            err.append(line.decode())

    reader = asyncio.create_task(read())
    base_url = f"http://127.0.0.1:{port}"
    try:
        await eventually(lambda: _answers(base_url, proc), within=90)
        assert proc.returncode is None, "".join(err)
        yield base_url, core, err
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        await reader
        assert proc.returncode == 0, "".join(err)
        assert proc.stdout is not None and await proc.stdout.read() == b""
        parsed(err)  # shutting down writes JSON lines too
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _answers(base_url: str, proc: asyncio.subprocess.Process) -> bool:
    if proc.returncode is not None:
        return True
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{base_url}/health")).status_code == 200
    except httpx.TransportError:
        return False


async def submit(base_url: str, request_id: str | None) -> Any:
    headers = {"X-Request-ID": request_id} if request_id else {}
    transport = StreamableHttpTransport(f"{base_url}/mcp", headers=headers, auth=SERVICE_KEY)
    async with Client(transport) as client:
        return await client.call_tool(
            "credit_submit_application",
            {"application": application(borrower_id=f"b-{uuid.uuid4()}")},
            raise_on_error=False,
        )


async def audit_request_ids(core: str) -> list[str]:
    conn = await asyncpg.connect(core)
    try:
        rows = await conn.fetch(
            "SELECT request_id FROM caas_audit.audit_log WHERE tool = 'credit.submit_application' ORDER BY id"
        )
    finally:
        await conn.close()
    return [r["request_id"] for r in rows]


async def fail_every_audited_write(core: str) -> None:
    """A fault no code path expects (a trigger raising P0001), so the next write ends in ``internal``."""
    conn = await asyncpg.connect(core)
    try:
        await conn.execute(
            "CREATE FUNCTION caas_audit.test_fault() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN RAISE EXCEPTION 'injected fault'; END$$;"
            "CREATE TRIGGER test_fault BEFORE INSERT ON caas_audit.audit_log "
            "FOR EACH ROW EXECUTE FUNCTION caas_audit.test_fault()"
        )
    finally:
        await conn.close()


async def invalid_http(base_url: str) -> None:
    """Bytes that are not HTTP, which uvicorn answers 400 and logs as a warning of its own."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"NOT HTTP\r\n\r\n")
    await writer.drain()
    await reader.read()
    writer.close()


def parsed(err: list[str]) -> list[dict[str, Any]]:
    """Every stderr line, each of which must be a JSON object with every field."""
    seen = []
    for line in err:
        value = json.loads(line)
        assert isinstance(value, dict) and set(value) >= KEYS, line
        datetime.fromisoformat(value["time"])
        seen.append(value)
    return seen


def call_lines(seen: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [s for s in seen if s["logger"] == "caas.calls" and s["request_id"] == request_id]


@pytest.mark.subprocess
@pytest.mark.slow
async def test_caas_serve_logs_json_lines_that_name_the_callers_request_id_everywhere(
    served: tuple[str, str, list[str]],
) -> None:
    base_url, core, err = served
    sent = f"it-{uuid.uuid4()}"
    assert error_code(await submit(base_url, sent)) is None
    assert error_code(await submit(base_url, None)) is None
    first, generated = await audit_request_ids(core)
    assert first == sent
    assert usable_request_id(generated) == generated  # made for the caller that sent none

    async with httpx.AsyncClient() as http:
        health = await http.get(f"{base_url}/health", headers={"X-Request-ID": "probe-1"})
    assert health.headers["x-request-id"] == "probe-1"

    await fail_every_audited_write(core)
    failing = f"boom-{uuid.uuid4()}"
    failed = await submit(base_url, failing)
    assert error_code(failed) == "internal"
    assert f"(request {failing})" in error_message(failed)
    await eventually(lambda: len(call_lines(parsed(err), failing)) == 1)
    flood = [f"flood-{n}" for n in range(8)]
    answers = await asyncio.gather(*(submit(base_url, f) for f in flood))
    assert {error_code(a) for a in answers} == {"internal"}
    await eventually(lambda: all(call_lines(parsed(err), f) for f in flood))
    await invalid_http(base_url)
    await eventually(lambda: any(s["logger"] == "uvicorn.error" for s in parsed(err)))

    seen = parsed(err)
    for request_id, outcome in ((sent, "ok"), (generated, "ok"), (failing, "internal")):
        (line,) = call_lines(seen, request_id)
        assert line["tool"] == "credit_submit_application"
        assert line["subject"] == "onasis-mcp"
        assert line["outcome"] == outcome
        assert line["duration_ms"] > 0
    (error,) = [s for s in seen if s["level"] == "ERROR" and s["request_id"] == failing]
    assert error["logger"] == "caas.tools" and error["tool"] == "credit_submit_application"
    assert "sqlstate=P0001" in error["message"] and "submit_application" in error["stack"]
    everything = "".join(err)
    # The database fault is one line, then the rest of the flood is withheld (a line a second at most).
    assert len([s for s in seen if s["level"] == "ERROR" and s["logger"] == "caas.tools"]) < 1 + len(flood)
    for secret in (SERVICE_KEY, TEST_NATIONAL_ID, TEST_ACCOUNT_NUMBER, TEST_DOB, "Adaeze", "adaeze@"):
        assert secret not in everything
