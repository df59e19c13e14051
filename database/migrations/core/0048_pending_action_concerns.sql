-- Whose own records a pending money move is on (an offer's borrower), so a person who may confirm it
-- finds it in their list by an index: the list read the newest actions of everyone and kept those the
-- person could see, so on a busy marketplace a borrower's own acceptance fell past the page (a probe's
-- find). NULL for a move only staff confirm (staff see every action).
ALTER TABLE caas_core.pending_actions ADD COLUMN concerns_subject text;
CREATE INDEX pending_actions_concerns ON caas_core.pending_actions (concerns_subject, created_at DESC)
    WHERE concerns_subject IS NOT NULL;
-- The acceptances already waiting, found by their application (an id or a reference, as asked).
UPDATE caas_core.pending_actions p SET concerns_subject = a.borrower_id::text
FROM caas_core.applications a
WHERE p.tool LIKE '%.accept_offer' AND p.status = 'pending' AND p.concerns_subject IS NULL
  AND (a.id::text = p.arguments->>'application' OR a.reference = p.arguments->>'application');
