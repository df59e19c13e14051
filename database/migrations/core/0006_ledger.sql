-- The double-entry ledger. Every money movement is one journal whose postings sum to zero per
-- currency; journals and postings are append-only (a correction is a reversing journal); every
-- balance is the sum of its account's postings, cached in account_balances by the same transaction.
--
-- Sign convention: amount_minor > 0 is a debit, < 0 a credit, in integer minor units of the posting's
-- currency. A balance is debits minus credits: asset and expense accounts (debit-normal) normally hold
-- positive balances, liability, equity and income accounts (credit-normal) negative ones.
CREATE SCHEMA IF NOT EXISTS caas_ledger;

-- Codes read <owner_type>[:<owner_id>]:<purpose>[:<qualifier>]:<currency>, for example
-- provider:p-7:capital_available:NGN or platform:cash_clearing:onasis:NGN (tools/domain/chart.py).
-- Ids are UUIDv5 of the code, so a writer knows an account's id before the account exists.
CREATE TABLE caas_ledger.accounts (
    id         uuid PRIMARY KEY,
    code       text NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('asset', 'liability', 'equity', 'income', 'expense')),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    owner_type text NOT NULL CHECK (owner_type IN ('platform', 'provider', 'loan', 'borrower')),
    owner_id   text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_code_format CHECK (
        length(code) <= 400 AND code ~ '^[a-z]+(:[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127})+$'
    ),
    CONSTRAINT accounts_code_currency CHECK (right(code, 4) = ':' || currency),
    CONSTRAINT accounts_code_owner CHECK (
        split_part(code, ':', 1) = owner_type
        AND CASE WHEN owner_type = 'platform' THEN owner_id IS NULL
                 ELSE coalesce(owner_id = split_part(code, ':', 2), false) END
    ),
    -- Target of the postings' (account_id, currency) key: a posting is in its account's currency.
    CONSTRAINT accounts_id_currency_key UNIQUE (id, currency)
);
CREATE INDEX accounts_owner_idx ON caas_ledger.accounts (owner_type, owner_id);

-- (kind, source_id) names the movement, so the same movement can never post twice; a reversal's
-- source is the journal it reverses, so a journal is reversed at most once.
CREATE TABLE caas_ledger.journals (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind                text NOT NULL CHECK (kind IN (
        'capital_deposit', 'capital_withdrawal', 'reservation', 'reservation_release', 'disbursement',
        'interest_accrual', 'repayment', 'settlement', 'commission', 'fee', 'write_off', 'reversal'
    )),
    source_id           text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 200),
    reverses_journal_id uuid REFERENCES caas_ledger.journals (id),
    memo                text NOT NULL CHECK (length(memo) BETWEEN 1 AND 1000),
    created_by          text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT journals_movement_key UNIQUE (kind, source_id),
    CONSTRAINT journals_reversal_shape CHECK (
        (kind = 'reversal') = (reverses_journal_id IS NOT NULL)
        AND (reverses_journal_id IS NULL
             OR (source_id = reverses_journal_id::text AND reverses_journal_id <> id))
    )
);
CREATE INDEX journals_created_idx ON caas_ledger.journals (created_at, id);

CREATE TABLE caas_ledger.postings (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journal_id   uuid NOT NULL REFERENCES caas_ledger.journals (id),
    account_id   uuid NOT NULL,
    currency     char(3) NOT NULL,
    amount_minor bigint NOT NULL CHECK (
        amount_minor <> 0 AND amount_minor BETWEEN -1000000000000000000 AND 1000000000000000000
    ),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT postings_account_currency_fkey FOREIGN KEY (account_id, currency)
        REFERENCES caas_ledger.accounts (id, currency)
);
CREATE INDEX postings_journal_idx ON caas_ledger.postings (journal_id, id);
-- Statements walk an account's postings newest first; balances as of a time sum them by index only.
CREATE INDEX postings_account_idx ON caas_ledger.postings (account_id, created_at, id) INCLUDE (amount_minor);

-- The cached balance (debits minus credits) per account. Only the postings trigger below writes it;
-- reconciliation recomputes every balance from the postings and reports any difference.
CREATE TABLE caas_ledger.account_balances (
    account_id    uuid PRIMARY KEY REFERENCES caas_ledger.accounts (id),
    balance_minor bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Runs as the owner, so the application role can read balances but never write one directly. One
-- upsert per statement, in account order, so concurrent journals lock balance rows in one order.
CREATE FUNCTION caas_ledger.apply_postings() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO caas_ledger.account_balances AS b (account_id, balance_minor)
    SELECT account_id, sum(amount_minor)::bigint FROM new_postings GROUP BY account_id ORDER BY account_id
    ON CONFLICT (account_id) DO UPDATE
        SET balance_minor = b.balance_minor + EXCLUDED.balance_minor, updated_at = now();
    RETURN NULL;
END;
$$;
CREATE TRIGGER postings_update_balances AFTER INSERT ON caas_ledger.postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION caas_ledger.apply_postings();

-- What COMMIT checks for every journal the transaction touched: it was opened by this transaction
-- (postings are never added to an earlier journal, nor backdated), it has at least two postings, and
-- its postings sum to zero in each currency.
CREATE FUNCTION caas_ledger.assert_journal_balanced(journal uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    opened timestamptz;
    lines  bigint;
    off    record;
BEGIN
    SELECT created_at INTO opened FROM caas_ledger.journals WHERE id = journal;
    IF opened IS DISTINCT FROM now() OR EXISTS (
        SELECT 1 FROM caas_ledger.postings WHERE journal_id = journal AND created_at <> opened
    ) THEN
        RAISE EXCEPTION 'journal % was not opened by this transaction: journals and postings are append-only and never backdated; correct a journal by posting its reversal',
            journal USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*) INTO lines FROM caas_ledger.postings WHERE journal_id = journal;
    IF lines < 2 THEN
        RAISE EXCEPTION 'journal % has % posting(s); a journal needs at least two', journal, lines
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency, sum(amount_minor) AS total INTO off
    FROM caas_ledger.postings WHERE journal_id = journal
    GROUP BY currency HAVING sum(amount_minor) <> 0 ORDER BY currency LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal % does not balance: its % postings sum to % minor units, not 0',
            journal, off.currency, off.total
            USING ERRCODE = 'check_violation';
    END IF;
END;
$$;

CREATE FUNCTION caas_ledger.check_posted_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM caas_ledger.assert_journal_balanced(NEW.journal_id);
    RETURN NULL;
END;
$$;
CREATE FUNCTION caas_ledger.check_new_journal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM caas_ledger.assert_journal_balanced(NEW.id);
    RETURN NULL;
END;
$$;
-- Deferred to COMMIT: a journal and its postings arrive in any order within the transaction, and an
-- unbalanced one makes the COMMIT fail, whoever wrote it and however.
CREATE CONSTRAINT TRIGGER postings_balanced_at_commit AFTER INSERT ON caas_ledger.postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION caas_ledger.check_posted_journal();
CREATE CONSTRAINT TRIGGER journals_balanced_at_commit AFTER INSERT ON caas_ledger.journals
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION caas_ledger.check_new_journal();

-- Append-only even for a superuser, as caas_audit.audit_log is, with a message that names the table.
CREATE FUNCTION caas_ledger.refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % is not allowed; %', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP, TG_ARGV[0]
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER journals_append_only BEFORE UPDATE OR DELETE ON caas_ledger.journals
    FOR EACH ROW EXECUTE FUNCTION caas_ledger.refuse_rewrite('correct a journal by posting its reversal');
CREATE TRIGGER journals_no_truncate BEFORE TRUNCATE ON caas_ledger.journals
    FOR EACH STATEMENT EXECUTE FUNCTION caas_ledger.refuse_rewrite('correct a journal by posting its reversal');
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON caas_ledger.postings
    FOR EACH ROW EXECUTE FUNCTION caas_ledger.refuse_rewrite('correct a journal by posting its reversal');
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON caas_ledger.postings
    FOR EACH STATEMENT EXECUTE FUNCTION caas_ledger.refuse_rewrite('correct a journal by posting its reversal');
CREATE TRIGGER accounts_append_only BEFORE UPDATE OR DELETE ON caas_ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION caas_ledger.refuse_rewrite('an account keeps its code, kind and currency');
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON caas_ledger.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION caas_ledger.refuse_rewrite('an account keeps its code, kind and currency');

GRANT USAGE ON SCHEMA caas_ledger TO caas_app;
GRANT SELECT, INSERT ON caas_ledger.accounts, caas_ledger.journals, caas_ledger.postings TO caas_app;
GRANT SELECT ON caas_ledger.account_balances TO caas_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA caas_ledger TO caas_app;
