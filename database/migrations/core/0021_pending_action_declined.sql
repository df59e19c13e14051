-- A person may refuse a pending money move (decline_action): the row is settled once, either way, by
-- one conditional UPDATE, so a declined action can never be confirmed afterwards (nor the reverse).
-- Who declined, when and why stay on the row beside the audit row written in the same transaction.
ALTER TABLE caas_core.pending_actions DROP CONSTRAINT pending_actions_status_check;
ALTER TABLE caas_core.pending_actions ADD CONSTRAINT pending_actions_status_check CHECK (
    status IN ('pending', 'confirmed', 'declined')
);
ALTER TABLE caas_core.pending_actions
    ADD COLUMN declined_by    text,
    ADD COLUMN declined_role  text,
    ADD COLUMN declined_at    timestamptz,
    ADD COLUMN decline_reason text,
    ADD CONSTRAINT pending_actions_declined_check CHECK (
        (status = 'declined') = (declined_at IS NOT NULL)
        AND (declined_at IS NULL OR (declined_by IS NOT NULL AND decline_reason IS NOT NULL))
    );
-- list_pending_actions reads the newest first.
CREATE INDEX pending_actions_newest ON caas_core.pending_actions (created_at DESC);
