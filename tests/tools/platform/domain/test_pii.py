"""Masking for display and canonical forms for the blind index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.platform.domain.pii import (
    MASK,
    mask,
    normalize_account_number,
    normalize_for_index,
    normalize_national_id,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("12345678901", "****8901"),  # NIN / BVN
        ("0123456789", "****6789"),  # NUBAN
        ("12345678", "****5678"),  # exactly as many hidden as shown
        ("1234567", "****"),
        ("1234", "****"),
        ("", "****"),
    ],
)
def test_mask_shows_the_last_four_behind_four_asterisks(value: str, shown: str) -> None:
    assert mask(value) == shown


def test_mask_with_nothing_visible_hides_everything() -> None:
    assert mask("12345678901", visible=0) == MASK


def test_a_negative_visible_count_is_refused() -> None:
    with pytest.raises(ValueError):
        mask("12345678901", visible=-1)


@given(st.text(max_size=40), st.integers(min_value=0, max_value=8))
def test_mask_never_shows_more_than_the_tail_nor_reveals_the_length(value: str, visible: int) -> None:
    shown = mask(value, visible)
    assert shown.startswith(MASK)
    tail = shown.removeprefix(MASK)
    assert len(tail) <= visible
    assert value.endswith(tail)
    assert len(tail) <= len(value) - len(tail)  # at least as much stays hidden as is shown


@pytest.mark.parametrize("typed", ["12345678901", "123 456 789 01", "123-4567-8901", " 1234567 8901\t"])
def test_national_id_normalises_spacing_and_dashes(typed: str) -> None:
    assert normalize_national_id(typed) == "12345678901"


def test_national_id_is_upper_cased() -> None:
    assert normalize_national_id("ab-12 cd") == "AB12CD"


@pytest.mark.parametrize("typed", ["0123456789", "012 345 6789", "012-345-6789", "acct: 0123456789."])
def test_account_number_keeps_digits_only(typed: str) -> None:
    assert normalize_account_number(typed) == "0123456789"


@given(st.text())
def test_normalisers_are_idempotent(value: str) -> None:
    for normalise in (normalize_national_id, normalize_account_number):
        once = normalise(value)
        assert normalise(once) == once


@pytest.mark.parametrize(
    ("field", "typed", "canonical"),
    [
        ("national_id", "123 456-78901", "12345678901"),
        ("borrowers.national_id", "123 456-78901", "12345678901"),
        ("bvn", "2212 3456 789", "22123456789"),
        ("account_number", "012-345 6789", "0123456789"),
        ("date_of_birth", " 1990-05-17 ", "1990-05-17"),
        ("borrowers.full_name", "  Ada   Obi ", "Ada Obi"),
    ],
)
def test_index_normaliser_is_chosen_by_the_last_part_of_the_field(
    field: str, typed: str, canonical: str
) -> None:
    assert normalize_for_index(field, typed) == canonical
