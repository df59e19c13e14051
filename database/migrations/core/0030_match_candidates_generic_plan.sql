-- invite_providers and match_providers ran `SET LOCAL plan_cache_mode = force_generic_plan` before
-- their candidates' statement (database/marketplace/providers.py CANDIDATES_SQL): one round trip of its
-- own on every call (issue 14), and for match_providers a transaction of its own around the two. The
-- statement's plan is made for any values (generic) because the values enter only as index bounds and
-- values computed once per call: a plan for each call's values costs a third of a millisecond of
-- planning at 100k providers (bench/bench_matching.py). The same statement now runs in this function,
-- whose SET clause gives it the generic plan for the call alone: PL/pgSQL keeps the plan for the
-- connection, as the prepared statement was kept, and nothing is set beyond the call (behind a
-- transaction-mode pooler too). The body is CANDIDATES_SQL, character for character
-- (tests/database/marketplace/test_providers.py compares them); its parameters are the statement's
-- (candidate_args): currency, country, grade, amount, term, score, DTI, rate band low and high, limit.
CREATE FUNCTION caas_core.match_candidates(
    bpchar, text, text, bigint, smallint, smallint, numeric, float8, float8, integer
) RETURNS TABLE (
    provider_id uuid, name text, provider_type text, min_annual_rate numeric, max_annual_rate numeric,
    capital_available_minor bigint, approved_count integer, decided_count integer, fit_score float8
)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH eligible AS (
    SELECT p.id, 100.0::float8 * (0.5::float8 * (CASE WHEN (SELECT $9::float8 > $8::float8) THEN least(1.0::float8, greatest(0.0::float8, ($9::float8 - p.mid_annual_rate) / (SELECT $9::float8 - $8::float8))) WHEN p.mid_annual_rate <= $8::float8 THEN 1.0::float8 ELSE 0.0::float8 END) + 0.3::float8 * (least(1.0::float8, greatest(0.0::float8, (p.capital_available_minor::float8 - (SELECT $4::bigint::float8)) / (SELECT 19.0::float8 * $4::bigint::float8)))) + 0.2::float8 * (p.smoothed_approval_rate)) AS fit
    FROM caas_core.providers p
    WHERE p.status = 'active'
      AND p.currency_code = (SELECT (CASE WHEN $1::bpchar::text ~ '^[A-Z]{3}$' THEN (ascii(substr($1::bpchar::text, 1, 1)) - 65) * 676 + (ascii(substr($1::bpchar::text, 2, 1)) - 65) * 26 + (ascii(substr($1::bpchar::text, 3, 1)) - 65) END)::smallint)
      AND p.sole_country_code = ANY ((SELECT ARRAY[(CASE WHEN $2::text ~ '^[A-Z]{2}$' THEN (ascii(substr($2::text, 1, 1)) - 65) * 26 + (ascii(substr($2::text, 2, 1)) - 65) END)::smallint, -1::smallint])::smallint[])
      AND p.min_amount_minor <= $4::bigint AND p.max_amount_minor >= $4::bigint
      AND p.capital_available_minor >= $4::bigint
      AND p.min_term_months <= $5::smallint AND p.max_term_months >= $5::smallint
      AND p.min_score <= $6::smallint
      AND p.max_dti_bp >= (SELECT (CASE WHEN $7::numeric > 1 THEN 10001 WHEN $7::numeric <= 0 THEN 0 ELSE ceil($7::numeric * 10000) END)::integer)
      AND p.grade_mask & (SELECT (CASE $3::text WHEN 'A' THEN 1 WHEN 'B' THEN 2 WHEN 'C' THEN 4 WHEN 'D' THEN 8 WHEN 'E' THEN 16 ELSE 0 END)::smallint) <> 0
      AND (p.sole_country_code <> -1 OR p.countries @> (SELECT ARRAY[$2::text]))
), best AS (
    SELECT e.id, e.fit FROM eligible e ORDER BY e.fit DESC, e.id LIMIT $10::int
)
SELECT b.id AS provider_id, p.name, p.provider_type, p.min_annual_rate, p.max_annual_rate,
       p.capital_available_minor, p.approved_count, p.decided_count, b.fit AS fit_score
FROM best b JOIN caas_core.providers p ON p.id = b.id
ORDER BY b.fit DESC, b.id;
END
$fn$;
