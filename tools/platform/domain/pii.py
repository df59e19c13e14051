"""Personal data as it is shown and compared: masking for display and canonical forms for lookup.

National identity numbers (NIN, BVN), bank account numbers (NUBAN) and dates of birth are encrypted at
rest and found through a blind index (a keyed hash). A keyed hash only matches byte-identical input,
so the same person typed as ``123 456-78901`` and ``12345678901`` must be brought to one canonical form
first; :func:`normalize_for_index` picks that form from the field name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "ACCOUNT_NUMBER",
    "BVN",
    "DATE_OF_BIRTH",
    "MASK",
    "NATIONAL_ID",
    "mask",
    "normalize_account_number",
    "normalize_for_index",
    "normalize_national_id",
]

# Field names of the personal data we protect. Callers may qualify them ("borrowers.national_id"):
# the normaliser is chosen by the last dotted part.
NATIONAL_ID = "national_id"
BVN = "bvn"
ACCOUNT_NUMBER = "account_number"
DATE_OF_BIRTH = "date_of_birth"

# Always four asterisks, whatever the length, so the mask does not reveal how long the value is.
MASK = "****"

# Spaces and the dashes people (and word processors) put between digit groups.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")


def mask(value: str, visible: int = 4) -> str:
    """``MASK`` followed by the last ``visible`` characters: ``mask("12345678901") == "****8901"``.

    The tail is shown only when at least as many characters stay hidden as are shown; a shorter value
    is fully masked (``"****"``), because showing four of six characters is hardly a mask. Pass the
    normalised value, so separators do not take the visible places.
    """
    if visible < 0:
        raise ValueError("visible must not be negative")
    if visible == 0 or len(value) < 2 * visible:
        return MASK
    return MASK + value[-visible:]


def normalize_national_id(value: str) -> str:
    """NIN or BVN as stored for lookup: separators removed, letters upper-cased."""
    return _SEPARATORS.sub("", value).upper()


def normalize_account_number(value: str) -> str:
    """Account number as stored for lookup: ASCII digits only (NUBANs are ten digits)."""
    return "".join(ch for ch in value if "0" <= ch <= "9")


def _collapse_whitespace(value: str) -> str:
    return " ".join(value.split())


_NORMALISERS: dict[str, Callable[[str], str]] = {
    NATIONAL_ID: normalize_national_id,
    BVN: normalize_national_id,
    ACCOUNT_NUMBER: normalize_account_number,
}


def normalize_for_index(field: str, value: str) -> str:
    """The canonical form of ``value`` for the blind index of ``field``.

    Known fields use their normaliser; any other field (a date of birth is already ISO) only has its
    whitespace trimmed and collapsed, so unrelated values never collide by over-eager folding.
    """
    normaliser = _NORMALISERS.get(field.rsplit(".", 1)[-1], _collapse_whitespace)
    return normaliser(value)
