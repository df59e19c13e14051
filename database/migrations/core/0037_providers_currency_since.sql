-- When a provider took its current currency. A currency change withdraws all its capital in the old
-- one, so a capital journal posted before it is not reversed (it would be taken out twice, even after
-- a change back to that currency): tools/ledger/ledger.py, reverse_journal.
ALTER TABLE caas_core.providers ADD COLUMN currency_since timestamptz;
-- Until now: the last capital journal in a currency other than its current one (the withdrawal the
-- latest change posted), else its onboarding. A change made with no capital to move posted nothing,
-- so for those few the onboarding time is all the ledger knows.
UPDATE caas_core.providers p SET currency_since = greatest(p.created_at, (
    SELECT max(j.created_at) FROM caas_ledger.journals j
    WHERE j.kind IN ('capital_deposit', 'capital_withdrawal')
      AND j.source_id LIKE p.id::text || ':v%'
      AND split_part(j.source_id, ':', 3) <> p.currency
));
ALTER TABLE caas_core.providers
    ALTER COLUMN currency_since SET DEFAULT now(),
    ALTER COLUMN currency_since SET NOT NULL;
