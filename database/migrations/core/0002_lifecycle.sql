-- The application lifecycle: every state, drafts that may be incomplete, and the timeline.
ALTER TABLE caas_core.applications DROP CONSTRAINT applications_status_check;
ALTER TABLE caas_core.applications ADD CONSTRAINT applications_status_check CHECK (status IN (
    'draft', 'submitted', 'under_review', 'open_for_bids', 'offer_accepted', 'approved',
    'declined', 'withdrawn', 'expired', 'disbursed'
));

-- A draft may be saved before the borrower knows every figure; anything past draft is complete.
ALTER TABLE caas_core.applications
    ALTER COLUMN requested_amount_minor DROP NOT NULL,
    ALTER COLUMN term_months DROP NOT NULL,
    ALTER COLUMN purpose DROP NOT NULL,
    ALTER COLUMN monthly_income_minor DROP NOT NULL,
    ALTER COLUMN monthly_obligations_minor DROP NOT NULL,
    ALTER COLUMN employment_status DROP NOT NULL,
    ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now(),
    -- Who made the latest change of any kind (maker-checker: they cannot approve).
    ADD COLUMN updated_by text,
    -- A draft may be withdrawn before it was ever complete.
    ADD CONSTRAINT applications_complete_unless_draft CHECK (
        status IN ('draft', 'withdrawn') OR (
            requested_amount_minor IS NOT NULL AND term_months IS NOT NULL AND purpose IS NOT NULL
            AND monthly_income_minor IS NOT NULL AND monthly_obligations_minor IS NOT NULL
            AND employment_status IS NOT NULL
        )
    );

-- Expiry scans open applications by how long they have been open.
CREATE INDEX applications_open_since_idx ON caas_core.applications (status_changed_at)
    WHERE status = 'open_for_bids';

CREATE TABLE caas_core.application_transitions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES caas_core.applications (id),
    from_status    text,
    to_status      text NOT NULL,
    actor_id       text NOT NULL,
    actor_role     text NOT NULL,
    reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    occurred_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX application_transitions_app_idx ON caas_core.application_transitions (application_id, id);

-- The timeline is history: it is appended to, never rewritten.
CREATE TRIGGER application_transitions_append_only BEFORE UPDATE OR DELETE ON caas_core.application_transitions
    FOR EACH ROW EXECUTE FUNCTION caas_audit.refuse_rewrite();

GRANT SELECT, INSERT ON caas_core.application_transitions TO caas_app;
