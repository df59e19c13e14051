-- The Neon system of record: schemas, the application slice, idempotency keys, outbox and audit.
CREATE SCHEMA IF NOT EXISTS caas_core;
CREATE SCHEMA IF NOT EXISTS caas_analytics;
CREATE SCHEMA IF NOT EXISTS caas_audit;

-- References are CAAS-<year>-<number>; the number comes from a sequence so concurrent submissions
-- never contend on a counter row. Gaps after a rollback are acceptable for a reference.
CREATE SEQUENCE caas_core.application_reference_seq;

CREATE TABLE caas_core.applications (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reference                 text NOT NULL UNIQUE,
    borrower_id               text NOT NULL CHECK (length(borrower_id) BETWEEN 1 AND 128),
    created_by                text NOT NULL,
    created_by_role           text NOT NULL
        CHECK (created_by_role IN ('borrower', 'agent', 'provider', 'operator', 'admin', 'service')),
    status                    text NOT NULL CHECK (status IN ('submitted')),
    applicant_name            text NOT NULL CHECK (length(applicant_name) <= 200),
    applicant_email           text NOT NULL CHECK (length(applicant_email) <= 254),
    applicant_phone           text CHECK (applicant_phone ~ '^\+[1-9][0-9]{6,14}$'),
    applicant_country         char(2) NOT NULL CHECK (applicant_country ~ '^[A-Z]{2}$'),
    currency                  char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    requested_amount_minor    bigint NOT NULL CHECK (requested_amount_minor > 0),
    term_months               smallint NOT NULL CHECK (term_months BETWEEN 1 AND 600),
    purpose                   text NOT NULL,
    purpose_detail            text CHECK (length(purpose_detail) <= 500),
    monthly_income_minor      bigint NOT NULL CHECK (monthly_income_minor > 0),
    monthly_obligations_minor bigint NOT NULL CHECK (monthly_obligations_minor >= 0),
    employment_status         text NOT NULL,
    employer_name             text CHECK (length(employer_name) <= 200),
    months_in_employment      integer NOT NULL DEFAULT 0 CHECK (months_in_employment >= 0),
    created_at                timestamptz NOT NULL DEFAULT now(),
    submitted_at              timestamptz,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    version                   integer NOT NULL DEFAULT 1
);

-- Keyset pagination walks (created_at, id) newest first, within each visibility scope.
CREATE INDEX applications_created_idx ON caas_core.applications (created_at DESC, id DESC);
CREATE INDEX applications_borrower_idx ON caas_core.applications (borrower_id, created_at DESC, id DESC);
CREATE INDEX applications_creator_idx ON caas_core.applications (created_by, created_at DESC, id DESC);
CREATE INDEX applications_status_idx ON caas_core.applications (status, created_at DESC, id DESC);

-- Keys are scoped to the caller and the operation, as Stripe scopes them to the account.
CREATE TABLE caas_core.idempotency_keys (
    principal_id   text NOT NULL,
    operation      text NOT NULL,
    key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_sha256 text NOT NULL,
    resource_id    text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (principal_id, operation, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON caas_core.idempotency_keys (expires_at);

-- Transactional outbox: written with the change, relayed at least once, consumers dedupe on event_id.
CREATE TABLE caas_core.outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    event_type      text NOT NULL,
    payload         jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);
CREATE INDEX outbox_pending_idx ON caas_core.outbox (next_attempt_at, id) WHERE published_at IS NULL;

CREATE TABLE caas_audit.audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    principal_id    text NOT NULL,
    principal_role  text NOT NULL,
    provider_id     text,
    tool            text NOT NULL,
    object_type     text NOT NULL,
    object_id       text,
    args_sha256     text NOT NULL CHECK (args_sha256 ~ '^[0-9a-f]{64}$'),
    outcome         text NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    request_id      text
);
CREATE INDEX audit_log_object_idx ON caas_audit.audit_log (object_type, object_id, occurred_at);
CREATE INDEX audit_log_principal_idx ON caas_audit.audit_log (principal_id, occurred_at);

-- Append-only even for a superuser: a trigger, not only privileges, refuses every rewrite.
CREATE FUNCTION caas_audit.refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'caas_audit.audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON caas_audit.audit_log
    FOR EACH ROW EXECUTE FUNCTION caas_audit.refuse_rewrite();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON caas_audit.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION caas_audit.refuse_rewrite();

CREATE VIEW caas_analytics.applications_daily AS
SELECT date_trunc('day', created_at AT TIME ZONE 'UTC')::date AS day,
       currency,
       status,
       count(*)                     AS applications,
       sum(requested_amount_minor)  AS requested_amount_minor
FROM caas_core.applications
GROUP BY 1, 2, 3;

-- The role the application should log in as in production. Roles are cluster-wide, so another
-- database on the same server may have made it already.
DO $$
BEGIN
    CREATE ROLE caas_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END;
$$;
GRANT USAGE ON SCHEMA caas_core, caas_analytics, caas_audit TO caas_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA caas_core TO caas_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA caas_core TO caas_app;
GRANT SELECT ON ALL TABLES IN SCHEMA caas_analytics TO caas_app;
GRANT SELECT, INSERT ON caas_audit.audit_log TO caas_app;
REVOKE UPDATE, DELETE, TRUNCATE ON caas_audit.audit_log FROM PUBLIC;
