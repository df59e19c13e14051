"""Log lines: JSON with the request, caller and tool; one request id in logs, audit and errors; a flood
of one error is a line per second with a count."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from mcp_servers.platform.logs import ContextFilter, RateLimitFilter, TextFormatter, json_formatter
from mcp_servers.platform.redaction import PersonalDataFilter
from mcp_servers.platform.request_context import bound, usable_request_id
from tests.helpers.common import TEST_NATIONAL_ID, caas_env

# Every JSON line carries these keys (null when they do not apply).
KEYS = {"time", "level", "logger", "message", "request_id", "subject", "tool", "duration_ms", "outcome"}


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
    }


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


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123", True), ("a" * 128, True), ("a" * 129, False), ("has space", False), ("nul\x00", False)],
)
def test_only_a_printable_bounded_request_id_is_kept_as_sent(sent: str, kept: bool) -> None:
    assert (usable_request_id(sent) == sent) is kept


@pytest.mark.subprocess
def test_library_loggers_and_warnings_come_out_as_json_lines_through_one_handler() -> None:
    script = """
import logging, warnings
from mcp_servers.platform.logs import configure_logging
configure_logging("INFO", "json")
logging.getLogger("fastmcp.server").warning("from fastmcp")
logging.getLogger("uvicorn.error").error("from uvicorn")
logging.getLogger("asyncpg.pool").warning("from asyncpg")
logging.getLogger("mcp.server").info("hidden: the SDK is quiet below WARNING")
warnings.warn("from warnings", UserWarning, stacklevel=1)
raise RuntimeError("uncaught")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], env=caas_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stdout == ""
    seen = [json.loads(line) for line in done.stderr.splitlines()]
    assert all(set(line) >= KEYS for line in seen), done.stderr
    by_logger = {line["logger"]: line for line in seen}
    assert {"fastmcp.server", "uvicorn.error", "asyncpg.pool", "py.warnings", "caas"} == set(by_logger)
    assert "from warnings" in by_logger["py.warnings"]["message"]
    assert by_logger["caas"]["level"] == "CRITICAL" and "RuntimeError" in by_logger["caas"]["exc_info"]
