"""Opaque keyset cursors: callers pass them back unchanged and never build them."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from uuid import UUID

from tools.platform.errors import InvalidArgument

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        if not isinstance(created, str) or not isinstance(row_id, str):
            raise TypeError("cursor fields are strings")
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, UUID(row_id)
    except (ValueError, TypeError, RecursionError):
        raise InvalidArgument(
            "cursor is not one this server issued; pass next_cursor from the previous page unchanged, "
            "or leave cursor out to start from the first page"
        ) from None
