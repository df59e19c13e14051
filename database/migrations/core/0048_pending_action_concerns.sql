-- Whose own records a pending money move is on (an offer's borrower), so a person who may confirm it
-- finds it in their list by an index: the list read the newest actions of everyone and kept those the
-- person could see, so on a busy marketplace a borrower's own acceptance fell past the page (a probe's
-- find). NULL for a move only staff confirm (staff see every action).
ALTER TABLE caas_core.pending_actions ADD COLUMN concerns_subject text;
CREATE INDEX pending_actions_concerns ON caas_core.pending_actions (concerns_subject, created_at DESC)
    WHERE concerns_subject IS NOT NULL;
