-- Matching in well under 5 ms at 100k providers (bench/bench_matching.py), with the same eligibility
-- and ranking (database/providers.py, CANDIDATES_SQL).
--
-- The 0007 index read every provider of the currency with min_amount at or below the amount, and the
-- executor then tested each one: the rest of its entry was slower to unpack (its first column,
-- currency, has a variable width, so no later column sits at a fixed offset), and the array and
-- numeric tests copy their values on every row. Here every criterion becomes a
-- fixed-width number, so the btree itself rejects a provider on its key columns before the executor
-- sees it; only the grade test (a bit mask) and, for a provider serving several countries, the
-- country array remain row filters. The GIN index is dropped: the query no longer tests the arrays
-- in a form it could use, and the country is now part of the btree key.
--
-- Each generated column is a function of columns that CHECK constraints already restrict, so each
-- test on it equals the original test (database/providers.py computes the request side with the
-- same expressions; tests/mcp_servers/test_matching.py checks the two statements agree):
--  * currency_code: the three letters A-Z of currency in base 26 (0..17575);
--  * sole_country_code: the two letters of the one country served in base 26 (0..675), or -1 when
--    several are served (then countries itself is tested; also for an array that is not a plain list,
--    which the application never writes but the CHECK would allow);
--  * grade_mask: one bit per accepted grade, A = 1, B = 2, C = 4, D = 8, E = 16;
--  * max_dti_bp: max_dti (numeric(5, 4), in (0, 1]) in basis points, exactly (1..10000).
-- Adding stored generated columns rewrites the table once (an exclusive lock for that time).
ALTER TABLE caas_core.providers
    ADD COLUMN currency_code smallint NOT NULL GENERATED ALWAYS AS (
        ((ascii(substr(currency, 1, 1)) - 65) * 676 + (ascii(substr(currency, 2, 1)) - 65) * 26
         + (ascii(substr(currency, 3, 1)) - 65))::smallint
    ) STORED,
    ADD COLUMN sole_country_code smallint NOT NULL GENERATED ALWAYS AS (
        CASE WHEN cardinality(countries) = 1 AND array_ndims(countries) = 1
             THEN ((ascii(substr(countries[array_lower(countries, 1)], 1, 1)) - 65) * 26
                   + (ascii(substr(countries[array_lower(countries, 1)], 2, 1)) - 65))::smallint
             ELSE -1::smallint
        END
    ) STORED,
    ADD COLUMN grade_mask smallint NOT NULL GENERATED ALWAYS AS (
        (CASE WHEN accepted_grades @> '{A}' THEN 1 ELSE 0 END
         | CASE WHEN accepted_grades @> '{B}' THEN 2 ELSE 0 END
         | CASE WHEN accepted_grades @> '{C}' THEN 4 ELSE 0 END
         | CASE WHEN accepted_grades @> '{D}' THEN 8 ELSE 0 END
         | CASE WHEN accepted_grades @> '{E}' THEN 16 ELSE 0 END)::smallint
    ) STORED,
    ADD COLUMN max_dti_bp smallint NOT NULL GENERATED ALWAYS AS ((max_dti * 10000)::smallint) STORED;

DROP INDEX caas_core.providers_match_amount_idx;
DROP INDEX caas_core.providers_match_reach_gin;

-- Active providers only. The key: currency and the one country served (-1: several) as equalities,
-- then min_amount_minor as the range the scan walks, then the other criteria, tested by the btree on
-- every entry in this order (the ones that reject most first). The INCLUDE columns are the rest of
-- what the query reads before it knows the best few (fixed widths first, the one array last), so the
-- scan stays index-only: VACUUM (autovacuum) keeps the visibility map current.
CREATE INDEX providers_match_idx ON caas_core.providers
    (currency_code, sole_country_code, min_amount_minor, capital_available_minor, max_amount_minor,
     max_term_months, min_term_months, min_score, max_dti_bp)
    INCLUDE (mid_annual_rate, smoothed_approval_rate, id, grade_mask, countries)
    WHERE status = 'active';
