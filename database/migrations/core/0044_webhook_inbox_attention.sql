-- An event id received again with another body than its first copy's: a sender reusing event ids, or
-- a replay altered with a valid signature. The first copy's effect stands and a later copy changes
-- nothing (a duplicate is a 200, ../contracts), but it is counted here and platform_health names it
-- (tools/payments/vendor_events.py duplicate_receipt): it was dropped without a trace.
ALTER TABLE caas_core.webhook_inbox
    ADD COLUMN other_bodies integer NOT NULL DEFAULT 0 CHECK (other_bodies >= 0),
    ADD COLUMN other_body_at timestamptz,
    ADD CONSTRAINT webhook_inbox_other_body_when CHECK ((other_bodies = 0) = (other_body_at IS NULL));
CREATE INDEX webhook_inbox_other_body_idx ON caas_core.webhook_inbox (other_body_at) WHERE other_bodies > 0;

-- A reversal a vendor reported of a payout that had succeeded: the money may have come back to the
-- platform while the loan counts it as paid out. Rejected for a person (tools/payments/core.py
-- _undone_after_success); platform_health names the payments, found here.
CREATE INDEX webhook_inbox_undone_idx ON caas_core.webhook_inbox (received_at)
    WHERE outcome = 'rejected' AND event_type = 'transfer.reversed';
