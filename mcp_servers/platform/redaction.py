"""A last line of defence that keeps personal data out of the logs.

The code never logs national ids, account numbers or dates of birth on purpose; this filter catches the
accidents (a dict logged whole, an exception message quoting its input). It masks, in the formatted
message, the exception text, the stack and string ``extra`` fields:

* a run of exactly 11 digits (NIN, BVN; also Nigerian phone numbers) -> ``****8901``
* a run of exactly 10 digits (NUBAN account number) -> ``****7890``
* an ISO date (or a ``datetime.date(...)`` repr) shortly after ``dob`` or ``birth`` -> ``****-**-**``

A run is bounded by anything but a letter or digit, so hex in UUIDs and longer numbers are left
alone. Ten-digit Unix timestamps are masked too; log times come from ``asctime`` instead.
"""

from __future__ import annotations

import logging
import re

from tools.platform.domain.pii import mask

__all__ = ["PersonalDataFilter", "install_redaction", "redact"]

_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d{10,11}(?![0-9A-Za-z])")
# Up to 24 non-digit characters between the label and the date covers "dob=", "'date_of_birth': '",
# "birth_date: datetime.date(" and the like, without reaching a date further along the line.
_BIRTH_DATE = re.compile(
    r"(?i)((?:dob|birth)[^0-9\n]{0,24}?)(\d{4}-\d{2}-\d{2}|\d{4}, ?\d{1,2}, ?\d{1,2})",
)
_DATE_MASK = "****-**-**"

# Attributes every LogRecord has; anything else came from ``extra=`` and may reach a structured handler.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """``text`` with anything that looks like a NIN, BVN, NUBAN or date of birth masked."""
    text = _BIRTH_DATE.sub(lambda m: m.group(1) + _DATE_MASK, text)
    return _DIGIT_RUN.sub(lambda m: mask(m.group(0)), text)


class PersonalDataFilter(logging.Filter):
    """Rewrites each record in place with the formatted, redacted message and never drops a record.

    Attach it to handlers, not loggers: a logger's filters do not see records propagated from its
    children, a handler's filters see every record it writes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # The handler would print the raw arguments while reporting the bad format; withhold them.
            message = f"{record.msg} (arguments withheld: they did not match the format)"
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse a cached exc_text, so formatting it here redacts every later output.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        fields = vars(record)
        for name in fields.keys() - _STANDARD:  # a set difference, not a walk of every attribute
            if isinstance(value := fields[name], str):
                setattr(record, name, redact(value))
        return True


def install_redaction(*loggers: logging.Logger) -> PersonalDataFilter:
    """Add one :class:`PersonalDataFilter` to every handler of the given loggers (default: the root
    logger and every configured logger that has handlers of its own, such as uvicorn's).

    Call it after the handlers exist (after ``logging.basicConfig``); calling it again is harmless.
    Handlers added later need it too.
    """
    targets = list(loggers) or [
        logging.getLogger(),
        *(
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger) and logger.handlers
        ),
    ]
    shared = PersonalDataFilter()
    for logger in targets:
        for handler in logger.handlers:
            if not any(isinstance(existing, PersonalDataFilter) for existing in handler.filters):
                handler.addFilter(shared)
    return shared
