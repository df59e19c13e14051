-- Money moves a person must confirm (issue 11, item 5). A row is the exact call that waits: the tool,
-- its arguments and their sha256 (the binding: the call that runs is the one confirmed), who asked and
-- when it expires. Settling it is one conditional UPDATE (pending -> confirmed), so a confirmation is
-- used at most once however many confirm at the same moment.
CREATE TABLE caas_core.pending_actions (
    id                    uuid PRIMARY KEY,
    tool                  text NOT NULL,
    arguments             jsonb NOT NULL,
    args_sha256           text NOT NULL,
    summary               text NOT NULL,
    requester_subject     text NOT NULL,
    requester_role        text NOT NULL,
    requester_provider_id text,
    status                text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed')),
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL,
    confirmed_by          text,
    confirmed_role        text,
    confirmed_at          timestamptz,
    CHECK (expires_at > created_at),
    CHECK ((status = 'confirmed') = (confirmed_at IS NOT NULL))
);
CREATE INDEX pending_actions_open ON caas_core.pending_actions (requester_subject, tool, args_sha256)
    WHERE status = 'pending';
GRANT SELECT, INSERT, UPDATE ON caas_core.pending_actions TO caas_app;

-- The audit trail says a money move was asked for (a pending action) before a person confirmed it.
ALTER TABLE caas_audit.audit_log DROP CONSTRAINT audit_log_outcome_check;
ALTER TABLE caas_audit.audit_log ADD CONSTRAINT audit_log_outcome_check CHECK (
    outcome IN ('succeeded', 'failed', 'confirmation_required')
);
