-- The money moves one caller has waiting for a person, found without reading its history: the count
-- that bounds them (tools/platform/confirmation.py MAX_WAITING_ACTIONS) reads only the unexpired ones.
-- An action left unconfirmed keeps status 'pending' after it expires, so the index of migration 0020
-- (requester, tool, arguments) would have the count read every one a caller ever left.
CREATE INDEX pending_actions_waiting ON caas_core.pending_actions (requester_subject, requester_role, expires_at)
    WHERE status = 'pending';
