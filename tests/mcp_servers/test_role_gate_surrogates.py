"""The role gate's check for lone surrogates in a call's arguments (only an in-process client can send
one): the quick test every call runs finds one exactly when the walk that names its place does, in
keys and values at any depth, and never in well-formed text, ASCII or not."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from mcp_servers.role_gate import _has_surrogate, _lone_surrogate
from tests.helpers.common import application

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=6) | st.sampled_from(
    ["Ada", "Adaèze", "\ud800", "x\udfffy", "日本", ""]
)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
@example({"application": {"applicant": {"full_name": "Ada \ud800 Okafor"}}})
@example({"ok": ["Adaèze", {"\udc00key": 1}]})
@example({"application": application()})
def test_the_quick_check_finds_a_surrogate_exactly_when_the_named_walk_does(value: Any) -> None:
    assert _has_surrogate(value) is (_lone_surrogate(value) is not None)


def test_a_real_application_has_none_and_one_bad_name_is_found_with_its_path() -> None:
    app = application()
    assert not _has_surrogate({"application": app})
    app["applicant"]["full_name"] = "Ada \ud800 Okafor"
    assert _has_surrogate({"application": app})
    assert _lone_surrogate({"application": app}) == "application.applicant.full_name"
