"""Opaque keyset cursors: callers pass them back unchanged and never build them."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from tools.platform.errors import InvalidArgument
from tools.platform.models import EARLIEST_DAY, LATEST_DAY

__all__ = [
    "decode_cursor",
    "decode_position",
    "decode_timed",
    "encode_cursor",
    "encode_position",
    "unusable_cursor",
]


_BIGINT = (-(2**63), 2**63 - 1)


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    return encode_position(created_at.isoformat(), str(row_id))


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    at, row_id = decode_timed(cursor, str)
    try:
        return at, UUID(row_id)
    except ValueError:
        raise unusable_cursor() from None


def decode_timed(cursor: str, kind: type) -> tuple[datetime, Any]:
    """A position of a time (ISO 8601 with its offset) and a key of ``kind``, as ``encode_position``
    wrote it from ``(at.isoformat(), key)``; ``invalid_argument`` for anything else."""
    created, key = decode_position(cursor, str, kind)
    try:
        at = datetime.fromisoformat(created)
    except ValueError:
        raise unusable_cursor() from None
    # No row of ours was written outside the days a caller may name; a time beyond them (year 1 at
    # +14:00, year 9999 at -14:00) is not a position and would not fit a PostgreSQL timestamptz.
    if at.tzinfo is None or not EARLIEST_DAY <= at.replace(tzinfo=None).date() <= LATEST_DAY:
        raise unusable_cursor()
    return at, key


def encode_position(*values: str | int) -> str:
    """A keyset position of plain values (an amount and an id, say), opaque to the caller."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """The values ``encode_position`` wrote, each of the kind given (``int`` or ``str``), or
    ``invalid_argument`` for anything else: another list's cursor, a hand-made one, garbage."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise TypeError("not this list's position")
        if any(type(v) is not kind for v, kind in zip(values, kinds, strict=True)):
            raise TypeError("not this list's position")
        # Positions are ids, amounts in minor units and times: a bigint's range and an id's length.
        if any(not _BIGINT[0] <= v <= _BIGINT[1] if type(v) is int else len(v) > 200 for v in values):
            raise ValueError("not a position")
        return tuple(values)
    except (ValueError, TypeError, RecursionError):
        raise unusable_cursor() from None


def unusable_cursor() -> InvalidArgument:
    return InvalidArgument(
        "cursor is not one this server issued; pass next_cursor from the previous page unchanged, "
        "or leave cursor out to start from the first page"
    )
