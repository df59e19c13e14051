-- Whether a confirmed money move ran, recorded in the move's own transaction: a process that stopped
-- between the confirmation and the move's commit (killed, its machine lost) left the action
-- 'confirmed' though nothing ran, and nothing ever said otherwise (a probe's find). The move's audit row
-- (the tool, its arguments' digest and the caller who asked, as confirm_action runs it) marks it ran;
-- the workers fail a confirmed action still unmarked long after (fail_interrupted_actions).
ALTER TABLE caas_core.pending_actions ADD COLUMN ran_at timestamptz;
-- Those confirmed before: taken as run (they were confirmed and, but for a stopped process, ran).
UPDATE caas_core.pending_actions SET ran_at = confirmed_at WHERE status = 'confirmed';
-- Both tiny: only actions confirmed and not yet run, a moment each.
CREATE INDEX pending_actions_unran ON caas_core.pending_actions (requester_subject, tool, args_sha256)
    WHERE status = 'confirmed' AND ran_at IS NULL;
CREATE INDEX pending_actions_unran_since ON caas_core.pending_actions (confirmed_at)
    WHERE status = 'confirmed' AND ran_at IS NULL;

CREATE FUNCTION caas_core.pending_action_ran() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE caas_core.pending_actions SET ran_at = now()
    WHERE status = 'confirmed' AND ran_at IS NULL AND requester_subject = NEW.principal_id
      AND requester_role = NEW.principal_role AND tool = NEW.tool AND args_sha256 = NEW.args_sha256;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_log_pending_action_ran AFTER INSERT ON caas_audit.audit_log
    FOR EACH ROW WHEN (NEW.outcome = 'succeeded') EXECUTE FUNCTION caas_core.pending_action_ran();
