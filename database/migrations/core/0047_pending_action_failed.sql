-- A confirmed money move that then did not run (its loan was paid out meanwhile, the gateway was
-- down) is 'failed', with why: it stayed 'confirmed' and audited as succeeded, so a person read that
-- their move had run (a probe's find). It is settled all the same: a new confirmation is a new call.
ALTER TABLE caas_core.pending_actions DROP CONSTRAINT pending_actions_status_check;
ALTER TABLE caas_core.pending_actions ADD CONSTRAINT pending_actions_status_check CHECK (
    status IN ('pending', 'confirmed', 'declined', 'failed')
);
-- 0020's unnamed "confirmed exactly when confirmed_at is set": a failed one was confirmed too.
DO $$
DECLARE
    found text;
BEGIN
    SELECT conname INTO found FROM pg_constraint
    WHERE conrelid = 'caas_core.pending_actions'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%confirmed_at IS NOT NULL%'
      AND pg_get_constraintdef(oid) NOT LIKE '%declined%';
    EXECUTE format('ALTER TABLE caas_core.pending_actions DROP CONSTRAINT %I', found);
END
$$;
ALTER TABLE caas_core.pending_actions
    ADD CONSTRAINT pending_actions_confirmed_check CHECK (
        (status IN ('confirmed', 'failed')) = (confirmed_at IS NOT NULL)
    ),
    ADD COLUMN failure text,
    ADD CONSTRAINT pending_actions_failed_check CHECK (
        (status = 'failed') = (failure IS NOT NULL) AND (failure IS NULL OR confirmed_at IS NOT NULL)
    );
