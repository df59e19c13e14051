-- Credit providers (lenders): who they are, what they lend against, how they are paid and called;
-- and their invitations to bid on applications.
--
-- A provider lends in one currency (amounts and capital are minor units of it); a lender in several
-- currencies is onboarded once per currency. The webhook signing secret is stored only encrypted
-- (AES-GCM, the key id inside the blob) and shown once, when it is generated.
CREATE TABLE caas_core.providers (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                      text NOT NULL CHECK (length(name) BETWEEN 2 AND 200),
    provider_type             text NOT NULL
        CHECK (provider_type IN ('bank', 'fintech', 'microfinance', 'p2p_lending')),
    status                    text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    suspended_reason          text CHECK (length(suspended_reason) BETWEEN 3 AND 500),
    suspended_at              timestamptz,
    suspended_by              text,
    currency                  char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    countries                 text[] NOT NULL CHECK (
        cardinality(countries) BETWEEN 1 AND 60
        AND array_to_string(countries, ',') ~ '^[A-Z]{2}(,[A-Z]{2})*$'
    ),
    accepted_grades           text[] NOT NULL CHECK (
        cardinality(accepted_grades) BETWEEN 1 AND 5 AND accepted_grades <@ ARRAY['A', 'B', 'C', 'D', 'E']
    ),
    min_score                 smallint NOT NULL CHECK (min_score BETWEEN 300 AND 850),
    max_dti                   numeric(5, 4) NOT NULL CHECK (max_dti > 0 AND max_dti <= 1),
    min_term_months           smallint NOT NULL CHECK (min_term_months BETWEEN 1 AND 600),
    max_term_months           smallint NOT NULL CHECK (max_term_months BETWEEN min_term_months AND 600),
    min_amount_minor          bigint NOT NULL CHECK (min_amount_minor > 0),
    max_amount_minor          bigint NOT NULL CHECK (max_amount_minor >= min_amount_minor),
    capital_available_minor   bigint NOT NULL CHECK (capital_available_minor >= 0),
    min_annual_rate           numeric(6, 4) NOT NULL CHECK (min_annual_rate >= 0),
    max_annual_rate           numeric(6, 4) NOT NULL
        CHECK (max_annual_rate >= min_annual_rate AND max_annual_rate <= 5),
    -- The fit score's rate part reads the mid rate as float8 (tools/domain/matching.py): computed once
    -- here, not converted from numeric for every provider on every match (as the approval part below).
    mid_annual_rate           float8 NOT NULL
        GENERATED ALWAYS AS ((min_annual_rate::float8 + max_annual_rate::float8) / 2.0::float8) STORED,
    commission_plan           jsonb NOT NULL CHECK (jsonb_typeof(commission_plan) = 'object'),
    webhook_url               text NOT NULL CHECK (length(webhook_url) <= 2000 AND webhook_url ~ '^https?://'),
    webhook_secret_encrypted  bytea NOT NULL,
    webhook_secret_rotated_at timestamptz NOT NULL DEFAULT now(),
    -- The provider's decisions on applications it was invited to (kept by the bidding flow); the
    -- fit score's approval part is (approved + 5) / (decided + 10).
    decided_count             integer NOT NULL DEFAULT 0 CHECK (decided_count >= 0),
    approved_count            integer NOT NULL DEFAULT 0 CHECK (approved_count BETWEEN 0 AND decided_count),
    -- The fit score's approval part: the approval rate smoothed towards 50% with the weight of 10
    -- decisions (PRIOR_APPROVAL_RATE and PRIOR_DECISIONS in tools/domain/matching.py).
    smoothed_approval_rate    float8 NOT NULL
        GENERATED ALWAYS AS ((approved_count::float8 + 5.0::float8) / (decided_count::float8 + 10.0::float8)) STORED,
    created_by                text NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    version                   integer NOT NULL DEFAULT 1,
    CONSTRAINT providers_suspension_complete CHECK (
        (status = 'suspended')
        = (suspended_reason IS NOT NULL AND suspended_at IS NOT NULL AND suspended_by IS NOT NULL)
    )
);

CREATE UNIQUE INDEX providers_name_key ON caas_core.providers (lower(name));
CREATE INDEX providers_created_idx ON caas_core.providers (created_at DESC, id DESC);

-- Matching (database/providers.py, one query). Both indexes hold active providers only, so a
-- suspended provider is never even read. The planner picks per application:
--  * the btree on (currency, min_amount_minor) narrows to one currency and the amounts at or below the
--    requested one, and covers every other criterion and ranking input, so the scan filters and ranks
--    inside the index (an index-only scan) without visiting the table;
--  * the GIN on the arrays answers "serves this country and accepts this grade" when the country is
--    rare among the providers of a currency (XOF is shared by eight countries).
CREATE INDEX providers_match_amount_idx ON caas_core.providers (currency, min_amount_minor)
    INCLUDE (max_amount_minor, capital_available_minor, min_term_months, max_term_months, min_score,
             max_dti, countries, accepted_grades, mid_annual_rate, smoothed_approval_rate, id)
    WHERE status = 'active';
CREATE INDEX providers_match_reach_gin ON caas_core.providers USING gin (countries, accepted_grades)
    WHERE status = 'active';

CREATE TABLE caas_core.provider_invitations (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id uuid NOT NULL REFERENCES caas_core.applications (id),
    provider_id    uuid NOT NULL REFERENCES caas_core.providers (id),
    assessment_id  uuid NOT NULL REFERENCES caas_core.risk_assessments (id),
    status         text NOT NULL DEFAULT 'invited'
        CHECK (status IN ('invited', 'bid_submitted', 'declined', 'expired')),
    rank           smallint NOT NULL CHECK (rank >= 1),
    fit_score      numeric(6, 2) NOT NULL CHECK (fit_score BETWEEN 0 AND 100),
    invited_by     text NOT NULL,
    invited_at     timestamptz NOT NULL DEFAULT now(),
    -- Matching twice (or twice at once) invites a provider to an application once.
    CONSTRAINT provider_invitations_once UNIQUE (application_id, provider_id)
);
CREATE INDEX provider_invitations_provider_idx
    ON caas_core.provider_invitations (provider_id, invited_at DESC, id DESC);
CREATE INDEX provider_invitations_listing_idx ON caas_core.provider_invitations (invited_at DESC, id DESC);

GRANT SELECT, INSERT, UPDATE ON caas_core.providers, caas_core.provider_invitations TO caas_app;
