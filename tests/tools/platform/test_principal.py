"""A principal's provider id has one spelling, so every comparison with stored ids agrees."""

from __future__ import annotations

import uuid

from tools.platform.principal import Principal, Role


def test_a_provider_id_in_any_case_or_with_braces_becomes_the_canonical_uuid() -> None:
    pid = uuid.uuid4()
    for spelling in (str(pid).upper(), f"{{{pid}}}", pid.hex):
        assert Principal("u", Role.PROVIDER, spelling).provider_id == str(pid)


def test_a_provider_id_that_is_no_uuid_is_kept_as_given_and_matches_nothing() -> None:
    assert Principal("u", Role.PROVIDER, "acme").provider_id == "acme"
