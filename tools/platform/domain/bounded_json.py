"""Reading a JSON body someone else sent: bounded in size and depth, and only text PostgreSQL can store.

Every JSON body the platform parses from outside (webhooks, the sandbox's routes) goes through
``parse_bounded``. Without it, 100,000 nested brackets are a RecursionError (a 500), and a NUL or a lone
surrogate in any string becomes a database error when the value is stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

__all__ = ["MAX_DEPTH", "UnreadableJson", "content_sha256", "one_line", "parse_bounded", "storable"]

# Vendor and lender events nest four or five levels; 32 leaves room and stays far from the
# interpreter's recursion limit in everything that walks the value afterwards.
MAX_DEPTH = 32
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# What ids, types and references inside an event may not hold: any control character (the rule of
# tools.platform.models.LINE_PATTERN for tool inputs).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class UnreadableJson(ValueError):
    """The body is not JSON, nests too deeply, or carries text that cannot be stored."""


def storable(text: str) -> bool:
    """Whether PostgreSQL can store ``text`` (no NUL, no lone surrogate)."""
    return _UNSTORABLE.search(text) is None


def one_line(text: str) -> bool:
    """Whether ``text`` is one line without control characters, as an event's id or type must be."""
    return _CONTROLS.search(text) is None


def parse_bounded(body: bytes, *, max_depth: int = MAX_DEPTH, decimals: bool = False) -> Any:
    """The JSON document in ``body``, or UnreadableJson saying why not (never the offending text)."""
    try:
        value = json.loads(body, parse_float=Decimal if decimals else float)
    except RecursionError:
        raise UnreadableJson(f"the JSON nests deeper than {max_depth} levels") from None
    except ValueError:
        raise UnreadableJson("the body is not a JSON document (UTF-8)") from None
    _check(value, max_depth)
    return value


def _check(document: Any, max_depth: int) -> None:
    # Iterative, so checking a deep document cannot itself run out of stack.
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not storable(value):
                raise UnreadableJson(
                    "a string in the JSON holds a NUL or a lone surrogate (\\u0000, \\ud800)"
                )
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise UnreadableJson(f"the JSON nests deeper than {max_depth} levels")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def content_sha256(document: Any) -> str:
    """The SHA-256 of a parsed document's content, whatever the key order, whitespace or escapes it was
    sent with: a sender that re-serialises a retry sends the same content, which this names alike."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
