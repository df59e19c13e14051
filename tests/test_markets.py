"""The test markets of tests/helpers/markets.py: two processes of a run never hold the same country, every
country handed out is one the product accepts for an applicant and a provider, and a run that needs more
markets than there are countries says so instead of handing one out twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.common import application
from tests.helpers.markets import RESERVED, Countries
from tests.helpers.providers import provider_body
from tools.credit.models.applications import SubmitApplication
from tools.marketplace.models.providers import OnboardProvider


def test_two_workers_claiming_from_one_folder_never_share_a_country(tmp_path: Path) -> None:
    gw0, gw1 = Countries(tmp_path), Countries(tmp_path)
    claimed = [gw0.claim(), gw1.claim(), gw1.claim(), gw0.claim()]
    assert len(set(claimed)) == 4
    assert not set(claimed) & RESERVED
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(claimed)


def test_every_country_handed_out_is_one_an_applicant_and_a_provider_may_name(tmp_path: Path) -> None:
    countries = Countries(tmp_path)
    for code in countries.pool:
        OnboardProvider.model_validate(provider_body(countries=[code]))
        SubmitApplication.model_validate(
            application(applicant={**application()["applicant"], "country": code})
        )
    assert len(countries.pool) > 200  # room for every test that matches, twice over


def test_a_run_that_needs_more_markets_than_countries_fails_loudly(tmp_path: Path) -> None:
    countries = Countries(tmp_path)
    handed = [countries.claim() for _ in countries.pool]
    assert sorted(handed) == countries.pool
    with pytest.raises(RuntimeError, match="countries are taken in this run"):
        Countries(tmp_path).claim()
