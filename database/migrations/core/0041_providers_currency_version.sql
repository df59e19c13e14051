-- The provider version at which it took its current currency. reverse_journal compared a capital
-- journal's time with currency_since, but both were the time their transaction BEGAN: a change that
-- began before a deposit and locked the provider after it (or the other way round) was judged in the
-- wrong order, letting capital withdrawn by a currency change be taken out a second time. The version
-- is settled by the provider row's lock: a capital journal's source id carries it (<id>:v<version>:<cur>).
ALTER TABLE caas_core.providers ADD COLUMN currency_version bigint;
-- Until now: the version of the last capital journal in a currency other than its current one (the
-- withdrawal the latest change posted); a provider that never changed currency took it at version 1;
-- a change that moved no capital posted nothing, and for those the current version is the safe answer
-- (no capital journal before it is reversed).
UPDATE caas_core.providers p SET currency_version = coalesce((
    SELECT max(substr(split_part(j.source_id, ':', 2), 2)::bigint) FROM caas_ledger.journals j
    WHERE j.kind IN ('capital_deposit', 'capital_withdrawal')
      AND j.source_id LIKE p.id::text || ':v%'
      AND split_part(j.source_id, ':', 3) <> p.currency
), CASE WHEN p.currency_since <= p.created_at THEN 1 ELSE p.version END);
ALTER TABLE caas_core.providers
    ALTER COLUMN currency_version SET DEFAULT 1,
    ALTER COLUMN currency_version SET NOT NULL;
