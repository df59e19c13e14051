"""Reading JSON someone else sent (``tools.platform.domain.bounded_json``): bounded, storable, and named
by its content, not its layout."""

from __future__ import annotations

import json

import pytest

from tools.platform.domain.bounded_json import MAX_DEPTH, UnreadableJson, content_sha256, parse_bounded

EVENT = {"event": "charge.success", "data": {"id": 7, "amount": 150_000, "note": "Ọ̀ṣun", "tags": ["a", "b"]}}


def test_a_document_sent_in_another_layout_has_the_same_content_digest() -> None:
    layouts = [
        json.dumps(EVENT),
        json.dumps(EVENT, indent=3, sort_keys=True),
        json.dumps(EVENT, ensure_ascii=False, separators=(",", ":")),
        json.dumps(dict(reversed(list(EVENT.items())))),
    ]
    digests = {content_sha256(parse_bounded(text.encode())) for text in layouts}
    assert len(digests) == 1


@pytest.mark.parametrize(
    "changed",
    [
        {**EVENT, "event": "charge.failed"},
        {**EVENT, "data": {**EVENT["data"], "amount": 150_001}},
        {**EVENT, "data": {**EVENT["data"], "amount": "150000"}},
        {**EVENT, "data": {**EVENT["data"], "tags": ["b", "a"]}},
        {**EVENT, "extra": None},
    ],
)
def test_any_change_of_content_is_another_digest(changed: dict[str, object]) -> None:
    assert content_sha256(parse_bounded(json.dumps(changed).encode())) != content_sha256(EVENT)


def test_what_cannot_be_read_or_stored_is_refused_with_a_reason() -> None:
    too_deep = ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode()
    for body, reason in [
        (b"{not json", "not a JSON document"),
        (too_deep, "nests deeper"),
        (b'{"a": "\\u0000"}', "NUL"),
        (b'{"a": "\\ud800"}', "lone surrogate"),
    ]:
        with pytest.raises(UnreadableJson, match=reason):
            parse_bounded(body)
