-- Risk assessments (model version and every input kept with each result) and adverse-action notices.
CREATE TABLE caas_core.risk_assessments (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id uuid NOT NULL REFERENCES caas_core.applications (id),
    model_version  text NOT NULL,
    stage          text NOT NULL CHECK (stage IN ('scoring', 'approval')),
    inputs         jsonb NOT NULL,
    score          smallint NOT NULL CHECK (score BETWEEN 300 AND 850),
    pd             numeric(6, 4) NOT NULL CHECK (pd > 0 AND pd < 1),
    grade          char(1) NOT NULL CHECK (grade IN ('A', 'B', 'C', 'D', 'E')),
    recommendation text NOT NULL CHECK (recommendation IN ('approve', 'refer', 'decline')),
    result         jsonb NOT NULL,
    assessed_by    text NOT NULL,
    assessed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX risk_assessments_app_idx ON caas_core.risk_assessments (application_id, assessed_at DESC);

-- Regulation B style notice: the action, the principal specific reasons, and the borrower's rights.
CREATE TABLE caas_core.adverse_action_notices (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id uuid NOT NULL UNIQUE REFERENCES caas_core.applications (id),
    assessment_id  uuid REFERENCES caas_core.risk_assessments (id),
    reasons        jsonb NOT NULL,
    notice_text    text NOT NULL,
    issued_by      text NOT NULL,
    issued_at      timestamptz NOT NULL DEFAULT now()
);

-- The review queue walks referred applications oldest first.
CREATE INDEX applications_review_idx ON caas_core.applications (status_changed_at, id)
    WHERE status = 'under_review';

CREATE TRIGGER risk_assessments_append_only BEFORE UPDATE OR DELETE ON caas_core.risk_assessments
    FOR EACH ROW EXECUTE FUNCTION caas_audit.refuse_rewrite();
CREATE TRIGGER adverse_action_notices_append_only BEFORE UPDATE OR DELETE ON caas_core.adverse_action_notices
    FOR EACH ROW EXECUTE FUNCTION caas_audit.refuse_rewrite();

GRANT SELECT, INSERT ON caas_core.risk_assessments, caas_core.adverse_action_notices TO caas_app;
