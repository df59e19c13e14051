-- The cached balances (account_balances) are written once per transaction, at COMMIT, for every
-- journal the transaction posted, in account-code order.
--
-- Until now a statement trigger updated the balance rows as each journal was posted, so a use case
-- held the rows of busy accounts (the platform's cash clearing, a lender's capital) from its first
-- journal to its COMMIT, and took them journal by journal: a transaction posting two journals locked
-- their accounts in the order of its journals, not in one global order, and could then wait on a
-- provider row another transaction held while that one waited on the same balance row (issue 10,
-- the place_bid / accept_offer / disbursement deadlock). Now the ledger's locks are the last a
-- transaction takes (tools/platform/locking.py), all at once, sorted, and held only while it commits.
--
-- Which journals a transaction posted is kept in the transaction-local setting
-- caas.ledger_pending_journals: a savepoint rolled back takes its journals out of the list with it.

DROP TRIGGER postings_update_balances ON caas_ledger.postings;
DROP FUNCTION caas_ledger.apply_postings();

CREATE FUNCTION caas_ledger.note_pending_journals() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config(
        'caas.ledger_pending_journals',
        concat_ws(',',
            nullif(current_setting('caas.ledger_pending_journals', true), ''),
            (SELECT string_agg(DISTINCT journal_id::text, ',') FROM new_postings)),
        true);
    RETURN NULL;
END;
$$;
CREATE TRIGGER postings_note_pending_journals AFTER INSERT ON caas_ledger.postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION caas_ledger.note_pending_journals();

-- Runs as the owner, so the application role can read balances but never write one directly. The
-- first journal's firing at COMMIT applies every pending journal and empties the list; the others
-- find it empty.
CREATE FUNCTION caas_ledger.apply_pending_journals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pending text := nullif(current_setting('caas.ledger_pending_journals', true), '');
BEGIN
    IF pending IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('caas.ledger_pending_journals', '', true);
    INSERT INTO caas_ledger.account_balances AS b (account_id, balance_minor)
    SELECT p.account_id, sum(p.amount_minor)::bigint
    FROM caas_ledger.postings p
    JOIN caas_ledger.accounts a ON a.id = p.account_id
    WHERE p.journal_id = ANY (string_to_array(pending, ',')::uuid[])
    GROUP BY p.account_id, a.code
    ORDER BY a.code
    ON CONFLICT (account_id) DO UPDATE
        SET balance_minor = b.balance_minor + EXCLUDED.balance_minor, updated_at = now();
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER journals_cache_balances_at_commit AFTER INSERT ON caas_ledger.journals
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION caas_ledger.apply_pending_journals();
