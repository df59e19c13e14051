"""Opaque keyset cursors: callers pass them back unchanged and never build them.

A cursor names the list that issued it and carries a short digest of the filters and ordering that
shaped its page (never the page size). A keyset position means something only in the list and under
the filters it came from: in another list, or with other filters, it would silently skip or repeat
rows, so each list refuses any cursor but its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from tools.platform.errors import InvalidArgument
from tools.platform.models import EARLIEST_DAY, LATEST_DAY

__all__ = [
    "Keyset",
    "decode_cursor",
    "decode_position",
    "decode_timed",
    "encode_cursor",
    "encode_position",
    "keyset",
    "unusable_cursor",
]


_BIGINT = (-(2**63), 2**63 - 1)
# A cursor fits the 200 characters a cursor argument takes: a short list name, a short digest.
_NAME_MAX = 24
_DIGEST_BYTES = 6


@dataclass(frozen=True, slots=True)
class Keyset:
    """The list a cursor belongs to (``name``, stable across releases) and the digest of what shaped
    its pages; make one with ``keyset``."""

    name: str
    digest: str


def keyset(name: str, **shape: object) -> Keyset:
    """The keyset of list ``name`` under ``shape``: every filter and ordering the caller chose (the
    resolved ids, not the handle spelled), never the page size, which may change between pages.
    Values are plain JSON, ids, times, decimals, bytes, enums or collections of them; a collection's order
    and an empty one (no filter) do not matter."""
    if not 0 < len(name) <= _NAME_MAX:
        raise ValueError(f"a keyset name is 1 to {_NAME_MAX} characters: {name!r}")
    plain = {key: _plain(value) for key, value in shape.items()}
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.blake2b(text.encode(), digest_size=_DIGEST_BYTES, person=b"caas-cursor").digest()
    return Keyset(name, base64.urlsafe_b64encode(digest).decode())


def _plain(value: object) -> object:
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        # The same instant written at two offsets is one filter.
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID | date | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple | Set):
        items = sorted({json.dumps(_plain(v), sort_keys=True) for v in value})
        return items or None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"no plain form for a {type(value).__name__} in a keyset")


def encode_cursor(scope: Keyset, created_at: datetime, row_id: UUID) -> str:
    return encode_position(scope, created_at.isoformat(), str(row_id))


def decode_cursor(scope: Keyset, cursor: str) -> tuple[datetime, UUID]:
    at, row_id = decode_timed(scope, cursor, str)
    try:
        return at, UUID(row_id)
    except ValueError:
        raise unusable_cursor() from None


def decode_timed(scope: Keyset, cursor: str, kind: type) -> tuple[datetime, Any]:
    """A position of a time (ISO 8601 with its offset) and a key of ``kind``, as ``encode_position``
    wrote it from ``(at.isoformat(), key)``; ``invalid_argument`` for anything else."""
    created, key = decode_position(scope, cursor, str, kind)
    try:
        at = datetime.fromisoformat(created)
    except ValueError:
        raise unusable_cursor() from None
    # No row of ours was written outside the days a caller may name; a time beyond them (year 1 at
    # +14:00, year 9999 at -14:00) is not a position and would not fit a PostgreSQL timestamptz.
    if at.tzinfo is None or not EARLIEST_DAY <= at.replace(tzinfo=None).date() <= LATEST_DAY:
        raise unusable_cursor()
    return at, key


def encode_position(scope: Keyset, *values: str | int) -> str:
    """A keyset position of plain values (an amount and an id, say) in ``scope``, opaque to the caller."""
    raw = json.dumps([scope.name, scope.digest, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(scope: Keyset, cursor: str, *kinds: type) -> tuple[Any, ...]:
    """The values ``encode_position`` wrote in ``scope``, each of the kind given (``int`` or ``str``),
    or ``invalid_argument`` for anything else: another list's cursor, one issued under other filters,
    a hand-made one, garbage."""
    name, digest, values = _unpack(cursor)
    if name != scope.name:
        raise InvalidArgument(
            "cursor is another list's next_cursor; pass this list's next_cursor from its previous page "
            "unchanged, or leave cursor out to start from the first page"
        )
    if digest != scope.digest:
        raise InvalidArgument(
            "cursor was issued for other filters; pass next_cursor unchanged with the same filters as the "
            "call that returned it, or leave cursor out to start again from the first page"
        )
    try:
        if len(values) != len(kinds):
            raise TypeError("not this list's position")
        if any(type(v) is not kind for v, kind in zip(values, kinds, strict=True)):
            raise TypeError("not this list's position")
        if not all(_plain_position(v) for v in values):
            raise ValueError("not a position")
        return tuple(values)
    except (ValueError, TypeError):
        raise unusable_cursor() from None


def _plain_position(value: int | str) -> bool:
    """Positions are ids, amounts in minor units and times: a bigint's range; an id's length, in
    printable ASCII (a NUL or a lone surrogate is text no query can take: PostgreSQL refuses it)."""
    if isinstance(value, str):
        return len(value) <= 200 and value.isascii() and value.isprintable()
    return _BIGINT[0] <= value <= _BIGINT[1]


def _unpack(cursor: str) -> tuple[str, str, list[Any]]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) < 2:
            raise TypeError("not a cursor")
        name, digest, *rest = values
        if type(name) is not str or type(digest) is not str:
            raise TypeError("not a cursor")
        return name, digest, rest
    except (ValueError, TypeError, RecursionError):
        raise unusable_cursor() from None


def unusable_cursor() -> InvalidArgument:
    return InvalidArgument(
        "cursor is not one this server issued; pass next_cursor from the previous page unchanged, "
        "or leave cursor out to start from the first page"
    )
