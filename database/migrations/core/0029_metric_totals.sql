-- /metrics read its database facts from the whole history on every scrape: every timeline entry,
-- every disbursement and platform income posting, every failed job and payment, every provider
-- webhook job (issue 14: nothing may scan the whole book on a request path; 10M postings, 2.25M jobs,
-- 5M payments in bench/bench_scale.py). The figures are kept as running totals instead, by triggers in
-- the transaction of each write, so a scrape sums a few dozen rows (database/platform/metrics.py).
-- Each total keeps the meaning the history statement gave it; recount_metric_totals() below is that
-- statement, run once here (and by the seeders, which load with triggers off).
--
-- As in 0028, a backend adds to its own slot (its pid modulo 16) and readers sum the slots, so
-- concurrent writers do not queue behind one hot row. b is '' for a metric with one label.
CREATE TABLE caas_core.metric_totals (
    metric text     NOT NULL,
    a      text     NOT NULL,
    b      text     NOT NULL DEFAULT '',
    slot   smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    n      numeric  NOT NULL,
    PRIMARY KEY (metric, a, b, slot)
);

CREATE FUNCTION caas_core.add_metric_total(text, text, text, numeric) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO caas_core.metric_totals AS t (metric, a, b, slot, n)
    VALUES ($1, $2, coalesce($3, ''), pg_backend_pid() % 16, $4)
    ON CONFLICT (metric, a, b, slot) DO UPDATE SET n = t.n + EXCLUDED.n
$$;

-- applications: (to_status, currency of the application) per timeline entry, append-only, so it only
-- grows. A draft's currency may be edited (update_draft): its entries then count under the new one.
CREATE FUNCTION caas_core.total_application_transitions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO caas_core.metric_totals AS t (metric, a, b, slot, n)
    SELECT 'applications', e.to_status, a.currency, pg_backend_pid() % 16, count(*)
    FROM new_transitions e JOIN caas_core.applications a ON a.id = e.application_id
    GROUP BY e.to_status, a.currency ORDER BY 2, 3
    ON CONFLICT (metric, a, b, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER application_transitions_totals AFTER INSERT ON caas_core.application_transitions
    REFERENCING NEW TABLE AS new_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION caas_core.total_application_transitions();

CREATE FUNCTION caas_core.move_application_currency() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO caas_core.metric_totals AS t (metric, a, b, slot, n)
    SELECT 'applications', e.to_status, c.currency, pg_backend_pid() % 16, sum(c.sign)
    FROM caas_core.application_transitions e,
         (VALUES (OLD.currency::text, -1), (NEW.currency::text, 1)) AS c (currency, sign)
    WHERE e.application_id = NEW.id
    GROUP BY e.to_status, c.currency ORDER BY 2, 3
    ON CONFLICT (metric, a, b, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER applications_currency_totals AFTER UPDATE OF currency ON caas_core.applications
    FOR EACH ROW WHEN (OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION caas_core.move_application_currency();

-- disbursed_minor (currency): debits to loans' principal_receivable by disbursement journals and
-- their reversals (which credit it back); revenue_minor (currency, kind): credits to the platform's
-- commission and fee income, a reversal counted against the kind of the journal it reverses. The
-- ledger is append-only, so the postings' insert is the only change.
CREATE FUNCTION caas_ledger.total_postings() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO caas_core.metric_totals AS t (metric, a, b, slot, n)
    SELECT m.metric, m.currency, m.kind, pg_backend_pid() % 16, sum(m.amount)
    FROM (
        SELECT CASE WHEN a.owner_type = 'loan' THEN 'disbursed_minor' ELSE 'revenue_minor' END AS metric,
               p.currency::text AS currency,
               CASE WHEN a.owner_type = 'loan' THEN ''
                    WHEN split_part(a.code, ':', 2) = 'fee_income' THEN 'fee'
                    WHEN coalesce(o.kind, j.kind) = 'repayment' THEN 'interest_share'
                    ELSE coalesce(o.kind, j.kind) END AS kind,
               CASE WHEN a.owner_type = 'loan' THEN p.amount_minor ELSE -p.amount_minor END AS amount
        FROM new_postings p
        JOIN caas_ledger.accounts a ON a.id = p.account_id
        JOIN caas_ledger.journals j ON j.id = p.journal_id
        LEFT JOIN caas_ledger.journals o ON o.id = j.reverses_journal_id
        WHERE (a.owner_type = 'loan' AND split_part(a.code, ':', 3) = 'principal_receivable'
               AND coalesce(o.kind, j.kind) = 'disbursement')
           OR (a.owner_type = 'platform' AND split_part(a.code, ':', 2) IN ('commission_income', 'fee_income'))
    ) m
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (metric, a, b, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_metric_totals AFTER INSERT ON caas_ledger.postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION caas_ledger.total_postings();

-- payments_failed (kind, currency): failed payments with no later payment of the same loan and kind,
-- i.e. the failed ones at their (loan, kind)'s latest created_at. A change is the count of its
-- (loan, kind)s after it less the count before it (inserted rows left out, an updated row as it was).
-- An insert locks the other payments of its (loan, kind), so a retry and a concurrent failure (or
-- another retry) of that loan and kind take turns: the later one's count sees the earlier one's row.
-- Updates that only change status need no turn: they never move the latest created_at, so each row
-- counts on its own, and an update fires only when a payment becomes or stops being failed (sent,
-- attempts and succeeded updates cost nothing). A statement updating created_at of several payments
-- of one loan and kind at once would be counted row by row (nothing does: created_at is the insert's).
-- The queries use the rows as arrays, not the transition table, so their plans are kept between calls.
CREATE FUNCTION caas_core.total_failed_payments() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed  caas_core.payments[];
    previous caas_core.payments[] := '{}';
BEGIN
    IF TG_OP = 'UPDATE' THEN
        changed := ARRAY[NEW];
        previous := ARRAY[OLD];
    ELSE
        changed := ARRAY(SELECT p FROM new_payments p);
        PERFORM 1 FROM caas_core.payments p
        WHERE (p.loan_id, p.kind) IN (SELECT loan_id, kind FROM unnest(changed))
          AND p.id NOT IN (SELECT id FROM unnest(changed))
        ORDER BY p.id FOR NO KEY UPDATE OF p;
    END IF;
    WITH pairs AS (
        SELECT loan_id, kind FROM unnest(changed) UNION SELECT loan_id, kind FROM unnest(previous)
    ), after AS (
        SELECT p.id, p.loan_id, p.kind, p.currency, p.status, p.created_at
        FROM caas_core.payments p JOIN pairs USING (loan_id, kind)
    ), before AS (
        SELECT * FROM after WHERE id NOT IN (SELECT id FROM unnest(changed))
        UNION ALL
        SELECT id, loan_id, kind, currency, status, created_at FROM unnest(previous)
    ), counted AS (
        SELECT kind, currency, status, created_at, 1 AS n,
               max(created_at) OVER (PARTITION BY loan_id, kind) AS latest FROM after
        UNION ALL
        SELECT kind, currency, status, created_at, -1,
               max(created_at) OVER (PARTITION BY loan_id, kind) FROM before
    )
    INSERT INTO caas_core.metric_totals AS t (metric, a, b, slot, n)
    SELECT 'payments_failed', c.kind, c.currency, pg_backend_pid() % 16, sum(c.n)
    FROM counted c WHERE c.status = 'failed' AND c.created_at = c.latest
    GROUP BY c.kind, c.currency HAVING sum(c.n) <> 0 ORDER BY 2, 3
    ON CONFLICT (metric, a, b, slot) DO UPDATE SET n = t.n + EXCLUDED.n;
    RETURN NULL;
END $$;
CREATE TRIGGER payments_failed_totals_insert AFTER INSERT ON caas_core.payments
    REFERENCING NEW TABLE AS new_payments
    FOR EACH STATEMENT EXECUTE FUNCTION caas_core.total_failed_payments();
CREATE TRIGGER payments_failed_totals_update AFTER UPDATE ON caas_core.payments
    FOR EACH ROW WHEN ((OLD.status = 'failed') <> (NEW.status = 'failed')
                       OR OLD.created_at IS DISTINCT FROM NEW.created_at OR OLD.loan_id <> NEW.loan_id
                       OR OLD.kind <> NEW.kind OR OLD.currency <> NEW.currency)
    EXECUTE FUNCTION caas_core.total_failed_payments();

-- jobs_failed (queue): jobs that failed for good (a requeue takes one back). webhook_deliveries
-- (status): every provider_webhooks job in the bucket the delivery listing shows it in: failed when
-- the job failed, else its delivery row's status, else pending. A job's bucket depends on its row and
-- its delivery's, so every change of either is made holding the job's row lock (an update of the job
-- holds it; a delivery's write takes it first, below), and each reads the other after the lock.
CREATE FUNCTION caas_core.webhook_delivery_bucket(job_failed boolean, delivery_status text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN job_failed THEN 'failed' WHEN delivery_status IS NOT NULL THEN delivery_status
                ELSE 'pending' END;

CREATE FUNCTION caas_core.total_jobs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    delivery text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.failed_at IS NOT NULL THEN
            PERFORM caas_core.add_metric_total('jobs_failed', OLD.queue, '', -1);
        END IF;
        IF OLD.queue = 'provider_webhooks' THEN
            SELECT status INTO delivery FROM caas_core.webhook_deliveries WHERE job_id = OLD.id;
            PERFORM caas_core.add_metric_total(
                'webhook_deliveries', caas_core.webhook_delivery_bucket(OLD.failed_at IS NOT NULL, delivery), '', -1);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.failed_at IS NOT NULL THEN
            PERFORM caas_core.add_metric_total('jobs_failed', NEW.queue, '', 1);
        END IF;
        IF NEW.queue = 'provider_webhooks' THEN
            SELECT status INTO delivery FROM caas_core.webhook_deliveries WHERE job_id = NEW.id;
            PERFORM caas_core.add_metric_total(
                'webhook_deliveries', caas_core.webhook_delivery_bucket(NEW.failed_at IS NOT NULL, delivery), '', 1);
        END IF;
    END IF;
    RETURN NULL;
END $$;
-- The workers' claims and outcomes update jobs all the time: the trigger fires only when a job
-- starts or stops being failed.
CREATE TRIGGER jobs_totals_insert AFTER INSERT ON caas_core.jobs
    FOR EACH ROW WHEN (NEW.failed_at IS NOT NULL OR NEW.queue = 'provider_webhooks')
    EXECUTE FUNCTION caas_core.total_jobs();
CREATE TRIGGER jobs_totals_update AFTER UPDATE OF failed_at, queue ON caas_core.jobs
    FOR EACH ROW WHEN ((OLD.failed_at IS NULL) <> (NEW.failed_at IS NULL) OR OLD.queue <> NEW.queue)
    EXECUTE FUNCTION caas_core.total_jobs();
CREATE TRIGGER jobs_totals_delete AFTER DELETE ON caas_core.jobs
    FOR EACH ROW WHEN (OLD.failed_at IS NOT NULL OR OLD.queue = 'provider_webhooks')
    EXECUTE FUNCTION caas_core.total_jobs();

-- Before the delivery row is written (and, for an upsert, before its row is locked), so the job's
-- lock always comes first: the requeue locks the job, then writes its delivery, in that order too.
CREATE FUNCTION caas_core.lock_delivery_job() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM 1 FROM caas_core.jobs WHERE id = OLD.job_id FOR NO KEY UPDATE;
        RETURN OLD;
    END IF;
    PERFORM 1 FROM caas_core.jobs WHERE id = NEW.job_id FOR NO KEY UPDATE;
    RETURN NEW;
END $$;

CREATE FUNCTION caas_core.move_webhook_delivery(job bigint, was text, now_is text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO caas_core.metric_totals AS t (metric, a, b, slot, n)
    SELECT 'webhook_deliveries', caas_core.webhook_delivery_bucket(false, m.status), '',
           pg_backend_pid() % 16, sum(m.n)
    FROM caas_core.jobs j, (VALUES (was, -1), (now_is, 1)) AS m (status, n)
    WHERE j.id = job AND j.queue = 'provider_webhooks' AND j.failed_at IS NULL
    GROUP BY 2 HAVING sum(m.n) <> 0 ORDER BY 2
    ON CONFLICT (metric, a, b, slot) DO UPDATE SET n = t.n + EXCLUDED.n
$$;

CREATE FUNCTION caas_core.total_webhook_deliveries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM caas_core.move_webhook_delivery(NEW.job_id, NULL, NEW.status);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM caas_core.move_webhook_delivery(OLD.job_id, OLD.status, NULL);
    ELSIF OLD.job_id = NEW.job_id THEN
        PERFORM caas_core.move_webhook_delivery(NEW.job_id, OLD.status, NEW.status);
    ELSE
        PERFORM caas_core.move_webhook_delivery(OLD.job_id, OLD.status, NULL);
        PERFORM caas_core.move_webhook_delivery(NEW.job_id, NULL, NEW.status);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_deliveries_lock_job BEFORE INSERT OR UPDATE OR DELETE ON caas_core.webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION caas_core.lock_delivery_job();
CREATE TRIGGER webhook_deliveries_totals AFTER INSERT OR DELETE ON caas_core.webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION caas_core.total_webhook_deliveries();
CREATE TRIGGER webhook_deliveries_totals_update AFTER UPDATE OF status, job_id ON caas_core.webhook_deliveries
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.job_id IS DISTINCT FROM NEW.job_id)
    EXECUTE FUNCTION caas_core.total_webhook_deliveries();

-- providers_active (currency): lenders whose status is active, for each currency that has lenders (one
-- whose lenders are all suspended reads 0), so 'providers' counts them all beside it. Capital and bid
-- counts update providers all the time: the trigger fires only on status or currency.
CREATE FUNCTION caas_core.total_providers() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM caas_core.add_metric_total('providers', OLD.currency::text, '', -1);
        PERFORM caas_core.add_metric_total('providers_active', OLD.currency::text, '',
                                            -(OLD.status = 'active')::int);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM caas_core.add_metric_total('providers', NEW.currency::text, '', 1);
        PERFORM caas_core.add_metric_total('providers_active', NEW.currency::text, '',
                                            (NEW.status = 'active')::int);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER providers_totals AFTER INSERT OR DELETE ON caas_core.providers
    FOR EACH ROW EXECUTE FUNCTION caas_core.total_providers();
CREATE TRIGGER providers_totals_update AFTER UPDATE OF status, currency ON caas_core.providers
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION caas_core.total_providers();

-- Every total from the rows that define it (the statement the scrape ran before this migration).
CREATE FUNCTION caas_core.recount_metric_totals() RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM caas_core.metric_totals;
    INSERT INTO caas_core.metric_totals (metric, a, b, slot, n)
    SELECT 'applications', t.to_status, a.currency, 0, count(*)
    FROM caas_core.application_transitions t JOIN caas_core.applications a ON a.id = t.application_id
    GROUP BY t.to_status, a.currency
    UNION ALL
    SELECT CASE WHEN a.owner_type = 'loan' THEN 'disbursed_minor' ELSE 'revenue_minor' END,
           p.currency,
           CASE WHEN a.owner_type = 'loan' THEN ''
                WHEN split_part(a.code, ':', 2) = 'fee_income' THEN 'fee'
                WHEN coalesce(o.kind, j.kind) = 'repayment' THEN 'interest_share'
                ELSE coalesce(o.kind, j.kind) END,
           0,
           sum(CASE WHEN a.owner_type = 'loan' THEN p.amount_minor ELSE -p.amount_minor END)
    FROM caas_ledger.accounts a
    JOIN caas_ledger.postings p ON p.account_id = a.id
    JOIN caas_ledger.journals j ON j.id = p.journal_id
    LEFT JOIN caas_ledger.journals o ON o.id = j.reverses_journal_id
    WHERE (a.owner_type = 'loan' AND split_part(a.code, ':', 3) = 'principal_receivable'
           AND coalesce(o.kind, j.kind) = 'disbursement')
       OR (a.owner_type = 'platform' AND split_part(a.code, ':', 2) IN ('commission_income', 'fee_income'))
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT 'providers_active', currency, '', 0, count(*) FILTER (WHERE status = 'active')
    FROM caas_core.providers GROUP BY currency
    UNION ALL
    SELECT 'providers', currency, '', 0, count(*) FROM caas_core.providers GROUP BY currency
    UNION ALL
    SELECT 'jobs_failed', queue, '', 0, count(*) FROM caas_core.jobs WHERE failed_at IS NOT NULL GROUP BY queue
    UNION ALL
    SELECT 'payments_failed', p.kind, p.currency, 0, count(*)
    FROM caas_core.payments p
    WHERE p.status = 'failed' AND NOT EXISTS (
        SELECT 1 FROM caas_core.payments r
        WHERE r.loan_id = p.loan_id AND r.kind = p.kind AND r.created_at > p.created_at)
    GROUP BY p.kind, p.currency
    UNION ALL
    SELECT 'webhook_deliveries', caas_core.webhook_delivery_bucket(j.failed_at IS NOT NULL, d.status), '', 0,
           count(*)
    FROM caas_core.jobs j LEFT JOIN caas_core.webhook_deliveries d ON d.job_id = j.id
    WHERE j.queue = 'provider_webhooks'
    GROUP BY 2
$$;

-- The book as it stands. Each CREATE TRIGGER above took a lock that keeps the table's writers out
-- until this migration commits, so nothing is written between this count and the triggers.
SELECT caas_core.recount_metric_totals();

-- The application role reads the totals but cannot write them (nor call the functions that do).
REVOKE ALL ON caas_core.metric_totals FROM caas_app;
GRANT SELECT ON caas_core.metric_totals TO caas_app;
REVOKE EXECUTE ON FUNCTION caas_core.add_metric_total(text, text, text, numeric),
    caas_core.move_webhook_delivery(bigint, text, text), caas_core.recount_metric_totals() FROM PUBLIC;
