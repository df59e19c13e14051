"""A market of its own for every test that matches lenders: a country no other test of the run lends or
applies in.

Matching invites only providers that serve the applicant's country (tools/marketplace/domain/matching.py),
and any ISO 3166-1 alpha-2 code is a valid country for an applicant and for a provider's ``countries``
(both are checked against pycountry). So a test that onboards its lenders and submits its applications in
a country it was handed sees exactly its own lenders, whatever ran before it or runs beside it, and never
needs to touch another test's rows.

A country is claimed by creating a file named after it, exclusively, in a folder every process of the
run shares (under xdist, the parent of each worker's base temporary folder): two tests of one run never
hold the same country even if their workers shared a database. The run's pool is every country but the
few that tests name outright.
"""

from __future__ import annotations

import os
from pathlib import Path

import pycountry
import pytest

__all__ = ["RESERVED", "Countries"]

# Countries tests name outright, so never handed out as a market: provider_body's Nigerian bank and the
# provider tests (NG, GH, KE), the domain and candidate-parity tests (MU, SC, RE, KM, MG), and the
# countries a matching test uses for "a country the application is not in" (SC, RE).
RESERVED = frozenset({"NG", "GH", "KE", "MU", "SC", "RE", "KM", "MG"})


class Countries:
    """Hands out country codes, each to one test of the run (``claim``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pool = sorted(c.alpha_2 for c in pycountry.countries if c.alpha_2 not in RESERVED)
        self.next = 0  # every code before it is held by this process or another one

    @classmethod
    def for_run(cls, tmp_path_factory: pytest.TempPathFactory) -> Countries:
        base = tmp_path_factory.getbasetemp()
        shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
        folder = shared / "markets"
        folder.mkdir(exist_ok=True)
        return cls(folder)

    def claim(self) -> str:
        while self.next < len(self.pool):
            code = self.pool[self.next]
            self.next += 1
            try:
                os.close(os.open(self.folder / code, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue  # another worker holds it
            return code
        raise RuntimeError(
            f"all {len(self.pool)} countries are taken in this run: more tests match lenders than there "
            "are countries; give tests/helpers/markets.py another dimension to tell markets apart"
        )
