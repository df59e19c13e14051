"""Providers and invitations in ``caas_core``: the reader (pool), the writer (inside a unit of work) and
the one matching query both of them run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any
from uuid import UUID

import asyncpg

from database.marketplace.capital_at_commit import CapitalAtCommit, add_at_once
from database.marketplace.provider_capital import capital_figures, in_currency
from database.platform.audit import Connection
from database.sql import Filters
from tools.loans.domain.commission_plan import CommissionPlan
from tools.marketplace.domain.matching import (
    HEADROOM_MULTIPLE,
    WEIGHT_APPROVAL,
    WEIGHT_CAPITAL,
    WEIGHT_RATE,
    MatchRequest,
)
from tools.marketplace.domain.providers import (
    TERM_FIELDS,
    InvitationRecord,
    NewInvitation,
    ProviderRecord,
    ProviderTerms,
)
from tools.marketplace.ports import (
    Candidates,
    CapitalFigures,
    InvitationQuery,
    ProviderQuery,
    RankedCandidate,
)
from tools.platform.errors import Conflict

__all__ = [
    "CANDIDATES_CALL",
    "CANDIDATES_SQL",
    "PROVIDER_COLUMNS",
    "PgProviderReader",
    "PgProviderWriter",
    "candidate_args",
    "provider_record",
]

_COLUMNS = [f.name for f in fields(ProviderRecord)]
PROVIDER_COLUMNS = tuple(_COLUMNS)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM caas_core.providers"
_RETURNING = f"RETURNING {', '.join(_COLUMNS)}"


def _f(value: float) -> str:
    """A float8 literal that parses back to exactly ``value`` (repr round-trips)."""
    return f"{value!r}::float8"


def _once(expr: str) -> str:
    """``expr`` of the parameters alone, evaluated once per call (an InitPlan), not once per row."""
    return f"(SELECT {expr})"


# The fit score of tools.marketplace.domain.matching.fit_score, operation for operation in float8, so that the
# database ranks exactly as the documented function scores. $8/$9 are the rate band, $4 the amount;
# mid_annual_rate is the generated column (min_annual_rate::float8 + max_annual_rate::float8) / 2.
# What depends only on the request (band width, amount as float8, 19 times it) is computed once.
_MID = "p.mid_annual_rate"
_RATE = (
    f"CASE WHEN {_once('$9::float8 > $8::float8')} THEN least(1.0::float8, greatest(0.0::float8, "
    f"($9::float8 - {_MID}) / {_once('$9::float8 - $8::float8')})) "
    f"WHEN {_MID} <= $8::float8 THEN 1.0::float8 ELSE 0.0::float8 END"
)
_CAPITAL = (
    f"least(1.0::float8, greatest(0.0::float8, (p.capital_available_minor::float8 - "
    f"{_once('$4::bigint::float8')}) / {_once(f'{_f(float(HEADROOM_MULTIPLE - 1))} * $4::bigint::float8')}))"
)
# The generated column smoothed_approval_rate is (approved_count::float8 + 5.0) / (decided_count::float8
# + 10.0): PRIOR_APPROVAL_RATE * PRIOR_DECISIONS and PRIOR_DECISIONS, written into migration 0007
# (tests/tools/marketplace/domain/test_matching.py pins the constants, the matching tests the column).
_APPROVAL = "p.smoothed_approval_rate"
_FIT = (
    f"100.0::float8 * ({_f(WEIGHT_RATE)} * ({_RATE}) + {_f(WEIGHT_CAPITAL)} * ({_CAPITAL}) "
    f"+ {_f(WEIGHT_APPROVAL)} * ({_APPROVAL}))"
)

# Every criterion of tools.marketplace.domain.matching, in one statement over the active providers, on the
# columns of providers_match_idx (migration 0010): until the best $10 are known (a top-N sort, no
# count of all eligible: that would buffer every eligible row) the scan is index-only, and the btree
# itself rejects most providers on its key columns; the rest is then fetched for those few rows.
# Each request value is brought to its column's form once per call by the same expression as the
# generated column, so each test equals the plain criterion (tests/mcp_servers/marketplace/test_matching.py):
#  * currency = $1: currency_code, the letters A-Z in base 26; any other $1 matches no provider (the
#    currency CHECK), so it becomes NULL. ::bpchar::text drops trailing blanks, as bpchar = does;
#  * countries @> {$2}: sole_country_code, the one country served in base 26, or -1 when several are
#    served, and then countries itself is tested; $2 outside A-Z A-Z matches none (the CHECK);
#  * accepted_grades @> {$3}: the bit of $3 in grade_mask; 0 (no provider) for anything but A-E;
#  * max_dti >= $7: max_dti_bp >= ceil($7 * 10000), exact as max_dti has four decimals and lies in
#    (0, 1]: above 1 no provider qualifies (10001), at or below 0 all do (0), NULL none.
# Every parameter is typed where it is compared, so each comparison stays on the column's own type.
_CURRENCY = "$1::bpchar::text"
_CURRENCY_CODE = (
    f"(CASE WHEN {_CURRENCY} ~ '^[A-Z]{{3}}$' THEN (ascii(substr({_CURRENCY}, 1, 1)) - 65) * 676 "
    f"+ (ascii(substr({_CURRENCY}, 2, 1)) - 65) * 26 + (ascii(substr({_CURRENCY}, 3, 1)) - 65) END)::smallint"
)
# The country's own code and -1 (providers serving several countries); ::smallint[] below makes
# ANY read the one array, not the rows of a subquery.
_COUNTRY_CODES = (
    "ARRAY[(CASE WHEN $2::text ~ '^[A-Z]{2}$' THEN (ascii(substr($2::text, 1, 1)) - 65) * 26 "
    "+ (ascii(substr($2::text, 2, 1)) - 65) END)::smallint, -1::smallint]"
)
_GRADE_BIT = (
    "(CASE $3::text WHEN 'A' THEN 1 WHEN 'B' THEN 2 WHEN 'C' THEN 4 WHEN 'D' THEN 8 WHEN 'E' THEN 16 "
    "ELSE 0 END)::smallint"
)
_DTI_BP = (
    "(CASE WHEN $7::numeric > 1 THEN 10001 WHEN $7::numeric <= 0 THEN 0 "
    "ELSE ceil($7::numeric * 10000) END)::integer"
)
CANDIDATES_SQL = f"""
WITH eligible AS (
    SELECT p.id, {_FIT} AS fit
    FROM caas_core.providers p
    WHERE p.status = 'active'
      AND p.currency_code = {_once(_CURRENCY_CODE)}
      AND p.sole_country_code = ANY ({_once(_COUNTRY_CODES)}::smallint[])
      AND p.min_amount_minor <= $4::bigint AND p.max_amount_minor >= $4::bigint
      AND p.capital_available_minor >= $4::bigint
      AND p.min_term_months <= $5::smallint AND p.max_term_months >= $5::smallint
      AND p.min_score <= $6::smallint
      AND p.max_dti_bp >= {_once(_DTI_BP)}
      AND p.grade_mask & {_once(_GRADE_BIT)} <> 0
      AND (p.sole_country_code <> -1 OR p.countries @> {_once("ARRAY[$2::text]")})
), best AS (
    SELECT e.id, e.fit FROM eligible e ORDER BY e.fit DESC, e.id LIMIT $10::int
)
SELECT b.id AS provider_id, p.name, p.provider_type, p.min_annual_rate, p.max_annual_rate,
       p.capital_available_minor, p.approved_count, p.decided_count, b.fit AS fit_score
FROM best b JOIN caas_core.providers p ON p.id = b.id
ORDER BY b.fit DESC, b.id
"""

# One plan serves every request: the request's values enter only as index bounds and values computed
# once per call, and no other index fits. So the plan is made once per connection (generic) instead
# of for each call (custom: a third of a millisecond of planning per call at 100k providers), whatever
# PostgreSQL's own choice after five calls would be. The statement runs in a function (migration 0030,
# its body CANDIDATES_SQL) whose SET clause forces the generic plan for the call alone: no SET LOCAL
# round trip of its own, no transaction needed, nothing left set behind a transaction-mode pooler.
CANDIDATES_CALL = "SELECT * FROM caas_core.match_candidates($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"


def candidate_args(request: MatchRequest, limit: int) -> tuple[Any, ...]:
    return (
        request.currency,
        request.country,
        request.grade,
        request.amount_minor,
        request.term_months,
        request.score,
        request.dti,
        float(request.band_min_rate),
        float(request.band_max_rate),
        limit,
    )


async def _candidates(conn: Connection | asyncpg.Pool, request: MatchRequest, limit: int) -> Candidates:
    # One row more than asked tells whether more providers are eligible.
    rows = await conn.fetch(CANDIDATES_CALL, *candidate_args(request, limit + 1))
    ranked = [RankedCandidate(**dict(r.items())) for r in rows]
    return Candidates(ranked=ranked[:limit], more=len(ranked) > limit)


def provider_record(values: asyncpg.Record) -> ProviderRecord:
    """A provider from its columns among ``values`` (which may have others: a loan's lender)."""
    data = {c: values[c] for c in _COLUMNS}
    data["commission_plan"] = CommissionPlan.model_validate(data["commission_plan"])
    return ProviderRecord(**data)


def _term_values(terms: ProviderTerms) -> list[Any]:
    values = [getattr(terms, name) for name in TERM_FIELDS]
    values[TERM_FIELDS.index("commission_plan")] = terms.commission_plan.model_dump(mode="json")
    return values


# The new invitations (each provider once per application), with the providers invited before: what
# the application's invitations are once this commits (its row is locked: nobody else invites to it).
_INVITE = """
WITH earlier AS (
    SELECT provider_id FROM caas_core.provider_invitations WHERE application_id = $1
), created AS (
    INSERT INTO caas_core.provider_invitations
        (application_id, provider_id, assessment_id, rank, fit_score, invited_by)
    SELECT $1, t.provider_id, $2, t.rank, t.fit_score, $3
    FROM unnest($4::uuid[], $5::smallint[], $6::numeric[]) AS t(provider_id, rank, fit_score)
    ORDER BY t.rank
    ON CONFLICT (application_id, provider_id) DO NOTHING
    RETURNING id, provider_id
)
SELECT id, provider_id FROM created
UNION ALL
SELECT NULL::uuid, provider_id FROM earlier
"""


_INVITATIONS = """
SELECT i.id, i.application_id, a.reference, a.status AS application_status, i.provider_id,
       p.name AS provider_name, i.status, i.rank, i.fit_score, a.currency, a.requested_amount_minor,
       a.term_months, a.purpose, a.applicant_country AS country, r.grade, r.score,
       (r.result ->> 'dti_after')::numeric AS dti, i.invited_by, i.invited_at,
       br.closes_at AS round_closes_at, a.status_changed_at
FROM caas_core.provider_invitations i
JOIN caas_core.applications a ON a.id = i.application_id
JOIN caas_core.providers p ON p.id = i.provider_id
JOIN caas_core.risk_assessments r ON r.id = i.assessment_id
LEFT JOIN caas_core.bidding_rounds br ON br.application_id = i.application_id
"""


class PgProviderReader:
    def __init__(self, pool: asyncpg.Pool | Connection) -> None:
        self._pool = pool

    async def get(self, provider_id: UUID) -> ProviderRecord | None:
        row = await self._pool.fetchrow(f"{_SELECT} WHERE id = $1", provider_id)
        return provider_record(row) if row else None

    async def get_many(self, provider_ids: Sequence[UUID]) -> list[ProviderRecord]:
        rows = await self._pool.fetch(f"{_SELECT} WHERE id = ANY($1::uuid[])", list(provider_ids))
        return [provider_record(r) for r in rows]

    async def candidates(self, request: MatchRequest, limit: int) -> Candidates:
        return await _candidates(self._pool, request, limit)  # one statement: no transaction

    async def invited(self, application_id: UUID) -> set[UUID]:
        rows = await self._pool.fetch(
            "SELECT provider_id FROM caas_core.provider_invitations WHERE application_id = $1", application_id
        )
        return {r["provider_id"] for r in rows}

    async def invitations(self, query: InvitationQuery) -> list[InvitationRecord]:
        f = Filters()
        if query.provider_id is not None:
            f.add(f"i.provider_id = {f.arg(query.provider_id)}")
        if query.application_id is not None:
            f.add(f"i.application_id = {f.arg(query.application_id)}")
        if query.statuses:
            f.add(f"i.status = ANY({f.arg(list(query.statuses))}::text[])")
        f.keyset(("i.invited_at", "i.id"), query.after)
        sql = f.page(_INVITATIONS, ("i.invited_at", "i.id"), query.limit)
        return [InvitationRecord(**dict(r.items())) for r in await self._pool.fetch(sql, *f.args)]

    async def capital(self, provider_id: UUID, currency: str) -> CapitalFigures:
        return await capital_figures(self._pool, provider_id, currency)

    async def list(self, query: ProviderQuery) -> list[ProviderRecord]:
        f = Filters()
        if query.statuses:
            f.add(f"status = ANY({f.arg(list(query.statuses))}::text[])")
        if query.provider_type is not None:
            f.add(f"provider_type = {f.arg(query.provider_type)}")
        if query.currency is not None:
            f.add(f"currency = {f.arg(query.currency)}")
        if query.country is not None:
            f.add(f"countries @> ARRAY[{f.arg(query.country)}::text]")
        f.keyset(("created_at", "id"), query.after)
        sql = f.page(_SELECT, ("created_at", "id"), query.limit)
        return [provider_record(r) for r in await self._pool.fetch(sql, *f.args)]


class PgProviderWriter:
    def __init__(self, conn: Connection, capital: CapitalAtCommit | None = None) -> None:
        # ``capital``: the unit of work's, written with COMMIT; without one it is written at once.
        self._conn, self._capital = conn, capital

    async def insert(self, terms: ProviderTerms, secret_encrypted: bytes, created_by: str) -> ProviderRecord:
        columns = [*TERM_FIELDS, "webhook_secret_encrypted", "created_by"]
        values = [*_term_values(terms), secret_encrypted, created_by]
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        try:
            row = await self._conn.fetchrow(
                f"INSERT INTO caas_core.providers ({', '.join(columns)}) "
                f"VALUES ({placeholders}) {_RETURNING}",
                *values,
            )
        except asyncpg.UniqueViolationError:
            raise _name_taken(terms.name) from None
        assert row is not None
        return provider_record(row)

    async def lock(self, provider_id: UUID) -> ProviderRecord | None:
        row = await self._conn.fetchrow(f"{_SELECT} WHERE id = $1 FOR NO KEY UPDATE", provider_id)
        return provider_record(row) if row else None

    async def share(self, provider_id: UUID) -> ProviderRecord | None:
        row = await self._conn.fetchrow(f"{_SELECT} WHERE id = $1 FOR SHARE", provider_id)
        return provider_record(row) if row else None

    async def update_terms(self, provider_id: UUID, terms: ProviderTerms) -> ProviderRecord:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(TERM_FIELDS, start=2))
        # The right side reads the row as it was: the time is kept unless the currency changes.
        currency = f"${TERM_FIELDS.index('currency') + 2}"
        sets += f", currency_since = CASE WHEN currency = {currency} THEN currency_since ELSE now() END"
        sets += (
            f", currency_version = CASE WHEN currency = {currency} THEN currency_version ELSE version + 1 END"
        )
        try:
            row = await self._conn.fetchrow(
                f"UPDATE caas_core.providers SET {sets}, updated_at = now(), version = version + 1 "
                f"WHERE id = $1 {_RETURNING}",
                provider_id,
                *_term_values(terms),
            )
        except asyncpg.UniqueViolationError:
            raise _name_taken(terms.name) from None
        assert row is not None
        return provider_record(row)

    async def set_status(
        self, provider_id: UUID, status: str, reason: str | None, actor: str | None
    ) -> ProviderRecord:
        row = await self._conn.fetchrow(
            "UPDATE caas_core.providers SET status = $2, suspended_reason = $3, suspended_by = $4, "
            "suspended_at = CASE WHEN $2 = 'suspended' THEN now() END, updated_at = now(), "
            f"version = version + 1 WHERE id = $1 {_RETURNING}",
            provider_id,
            status,
            reason,
            actor,
        )
        assert row is not None
        return provider_record(row)

    async def set_secret(self, provider_id: UUID, secret_encrypted: bytes) -> ProviderRecord:
        row = await self._conn.fetchrow(
            "UPDATE caas_core.providers SET webhook_secret_encrypted = $2, "
            "webhook_secret_previous_encrypted = webhook_secret_encrypted, "
            "webhook_secret_rotated_at = now(), updated_at = now(), version = version + 1 "
            f"WHERE id = $1 {_RETURNING}",
            provider_id,
            secret_encrypted,
        )
        assert row is not None
        return provider_record(row)

    async def in_currency(self, provider_id: UUID, currency: str) -> tuple[int, int, int]:
        return await in_currency(self._conn, provider_id, currency)

    async def add_capital(self, provider_id: UUID, amount_minor: int) -> None:
        if self._capital is None:
            await add_at_once(self._conn, provider_id, amount_minor)
        else:
            self._capital.add(provider_id, amount_minor)

    async def candidates(self, request: MatchRequest, limit: int) -> Candidates:
        return await _candidates(self._conn, request, limit)

    async def invite(
        self, application_id: UUID, assessment_id: UUID, invitations: Sequence[NewInvitation], by: str
    ) -> tuple[list[tuple[UUID, UUID]], set[UUID]]:
        rows = await self._conn.fetch(
            _INVITE,
            application_id,
            assessment_id,
            by,
            [i.provider_id for i in invitations],
            [i.rank for i in invitations],
            [i.fit_score for i in invitations],
        )
        created = [(r["id"], r["provider_id"]) for r in rows if r["id"] is not None]
        return created, {r["provider_id"] for r in rows}


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"a provider named '{name}' already exists (names are unique, ignoring case); "
        "call list_providers to find it, or choose another name"
    )
