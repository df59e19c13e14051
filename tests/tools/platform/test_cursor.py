"""Keyset cursors: what the server encodes it decodes exactly, in the list and under the filters that
issued it; anything else is invalid_argument."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.platform.cursor import (
    decode_cursor,
    decode_position,
    encode_cursor,
    encode_position,
    keyset,
)
from tools.platform.errors import InvalidArgument

AT = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
ID = uuid.UUID("3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e")
LIST = keyset("loans", statuses=["active"], currency="USD")


def raw(payload: object, bare: bool = False) -> str:
    """A cursor made the way the server makes one, from an arbitrary payload: after LIST's name and
    digest when it is a list, unless ``bare``."""
    if isinstance(payload, list) and not bare:
        payload = [LIST.name, LIST.digest, *payload]
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_a_cursor_decodes_to_what_was_encoded() -> None:
    cursor = encode_cursor(LIST, AT, ID)
    assert decode_cursor(LIST, cursor) == (AT, ID)
    assert decode_cursor(LIST, cursor)[0].utcoffset() == timedelta(0)


def test_a_cursor_is_opaque_url_safe_text() -> None:
    cursor = encode_cursor(LIST, AT, ID)
    assert cursor.isascii()
    assert not set(cursor) & set("+/= ")
    assert str(ID) not in cursor


@given(
    st.datetimes(
        # Every time a row of ours can hold (tools.platform.models' EARLIEST_DAY to LATEST_DAY).
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2199, 12, 31, 23, 59, 59, 999999),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))]
        ),
    ),
    st.uuids(),
)
def test_round_trip_for_any_aware_time_and_id(at: datetime, row_id: uuid.UUID) -> None:
    decoded_at, decoded_id = decode_cursor(LIST, encode_cursor(LIST, at, row_id))
    assert decoded_at == at
    assert decoded_at.utcoffset() == at.utcoffset()
    assert decoded_id == row_id


@pytest.mark.parametrize(
    "position",
    [
        ["0001-01-01T00:00:00+14:00", str(ID)],  # before year 1 in UTC: an OverflowError
        ["9999-12-31T23:59:59-14:00", str(ID)],  # after year 9999 in UTC: PostgreSQL's DataError
        ["1969-12-31T23:59:59+00:00", str(ID)],
        ["2200-01-01T00:00:00+00:00", str(ID)],
    ],
)
def test_a_time_no_row_can_hold_is_refused(position: list[str]) -> None:
    with pytest.raises(InvalidArgument, match="not one this server issued"):
        decode_cursor(LIST, raw(position))


def test_an_integer_beyond_a_bigint_is_refused() -> None:
    assert decode_position(LIST, raw([2**63 - 1, "x"]), int, str) == (2**63 - 1, "x")
    for beyond in (2**63, -(2**63) - 1, 2**70):
        with pytest.raises(InvalidArgument):
            decode_position(LIST, raw([beyond, "x"]), int, str)


def test_a_naive_datetime_in_a_cursor_is_refused() -> None:
    with pytest.raises(InvalidArgument) as refused:
        decode_cursor(LIST, encode_cursor(LIST, AT.replace(tzinfo=None), ID))
    assert refused.value.code == "invalid_argument"


def flip(cursor: str, index: int) -> str:
    swapped = "A" if cursor[index] != "A" else "B"
    return cursor[:index] + swapped + cursor[index + 1 :]


GOOD = encode_cursor(LIST, AT, ID)
BAD = {
    "empty": "",
    "not base64": "!!!***",
    "non-ascii": "éé",
    "truncated": GOOD[: len(GOOD) // 2],
    "first character changed": flip(GOOD, 0),
    "a character in the middle changed": flip(GOOD, len(GOOD) // 2),
    "invalid utf-8": raw(b"\xff\xfe\xfd"),
    "json but not a list": raw({"at": AT.isoformat(), "id": str(ID)}),
    "json dict with two keys": raw({"a": 1, "b": 2}),
    "json number": raw(42),
    "json null": raw(None),
    "one element": raw([AT.isoformat()]),
    "three elements": raw([AT.isoformat(), str(ID), "x"]),
    "date only": raw([AT.date().isoformat(), str(ID)]),
    "not a datetime": raw(["yesterday", str(ID)]),
    "not a uuid": raw([AT.isoformat(), "not-a-uuid"]),
    "datetime as a number": raw([1772368245, str(ID)]),
    "id as a number": raw([AT.isoformat(), 5]),
    "id as a list": raw([AT.isoformat(), [str(ID)]]),
    "id as null": raw([AT.isoformat(), None]),
    "deeply nested json": raw(b"[" * 100_000 + b"]" * 100_000),
    "a position of no list (the old form)": raw([AT.isoformat(), str(ID)], bare=True),
    "list name as a number": raw([1, LIST.digest, AT.isoformat(), str(ID)], bare=True),
    "digest as null": raw([LIST.name, None, AT.isoformat(), str(ID)], bare=True),
}


@pytest.mark.parametrize("cursor", BAD.values(), ids=BAD.keys())
def test_tampered_or_garbage_cursors_are_invalid_argument(cursor: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        decode_cursor(LIST, cursor)
    assert refused.value.code == "invalid_argument"


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
ALMOST = st.one_of(
    st.tuples(st.just(AT.isoformat()) | JSONISH, st.just(str(ID)) | JSONISH).map(list),
    JSONISH,
)


@given(st.text(max_size=200))
def test_no_text_makes_decode_fail_other_than_with_invalid_argument(text: str) -> None:
    with contextlib.suppress(InvalidArgument):
        decode_cursor(LIST, text)


@given(ALMOST)
def test_no_json_payload_makes_decode_fail_other_than_with_invalid_argument(payload: object) -> None:
    with contextlib.suppress(InvalidArgument):
        decode_cursor(LIST, raw(payload))


# What a position's text is: ids and times, printable ASCII.
PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), PRINTABLE)
def test_a_position_of_plain_values_decodes_to_what_was_encoded(amount: int, owner: str) -> None:
    assert decode_position(LIST, encode_position(LIST, amount, owner), int, str) == (amount, owner)


@pytest.mark.parametrize("owner", ["a\x00b", "\ud800", "x\udfffy", "\x1b[2J", "\x85", "é", "\u202e"])
def test_a_position_holding_text_no_query_can_take_is_refused(owner: str) -> None:
    # A NUL or a lone surrogate reached PostgreSQL from get_platform_revenue's cursor: an internal error.
    with pytest.raises(InvalidArgument, match="not one this server issued"):
        decode_position(LIST, raw([1, owner]), int, str)


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],  # a number where a text is wanted
        ["1", "p"],  # a text where a number is wanted
        [True, "p"],  # a bool is not an amount, although Python calls it an int
        [1],  # too short
        [1, "p", 3],  # too long
        {"amount": 1, "owner": "p"},  # not a position at all
        ["2026-03-01T12:30:45+00:00", 7],  # another list's position (a ledger statement's)
    ],
)
def test_a_position_of_other_kinds_or_length_is_refused(payload: object) -> None:
    with pytest.raises(InvalidArgument, match="pass next_cursor from the previous page unchanged"):
        decode_position(LIST, raw(payload), int, str)


def test_another_lists_cursor_is_refused() -> None:
    other = keyset("applications", statuses=["active"], currency="USD")  # the same filters, another list
    with pytest.raises(InvalidArgument, match="another list's next_cursor"):
        decode_cursor(LIST, encode_cursor(other, AT, ID))


@pytest.mark.parametrize(
    "shape",
    [
        {"statuses": ["late"], "currency": "USD"},
        {"statuses": ["active"], "currency": "EUR"},
        {"statuses": ["active"]},
        {"statuses": ["active"], "currency": "USD", "provider": ID},
        {"statuses": ["active", "late"], "currency": "USD"},
        {"statuses": None, "currency": "USD"},
    ],
)
def test_a_cursor_under_other_filters_is_refused(shape: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument, match="same filters"):
        decode_cursor(keyset("loans", **shape), encode_cursor(LIST, AT, ID))


def test_the_same_filters_written_another_way_are_the_same_keyset() -> None:
    assert keyset("loans", statuses=["active", "late"]) == keyset("loans", statuses=("late", "active"))
    assert keyset("loans", statuses=[]) == keyset("loans", statuses=None)
    assert keyset("loans", a=1, b="x") == keyset("loans", b="x", a=1)
    at = datetime(2026, 3, 1, 13, 30, tzinfo=timezone(timedelta(hours=1)))
    assert keyset("x", since=at) == keyset("x", since=at.astimezone(UTC))
    # A value and its text are different filters only when they print differently.
    assert keyset("x", provider=ID) == keyset("x", provider=str(ID))
    assert keyset("x", flag=True) != keyset("x", flag="true") != keyset("x", flag=None)


def test_the_longest_cursor_fits_a_cursor_argument() -> None:
    # A cursor argument takes at most 200 characters (mcp_servers/params.py Cursor).
    longest = keyset("x" * 24, anything="y" * 500)
    cursor = encode_cursor(longest, datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC), ID)
    assert len(cursor) <= 200
    assert decode_cursor(longest, cursor) == (datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC), ID)
    with pytest.raises(ValueError, match="1 to 24 characters"):
        keyset("x" * 25)
