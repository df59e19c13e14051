-- monitoring_get_pipeline_health counted every application per state and currency on each call: the one
-- request-path read that grew with the book (1.7 s at 1.25M applications, bench/bench_scale.py). The
-- counts are kept as they change instead, by a trigger in the transaction of the change, and the
-- dashboard sums a few dozen rows.
--
-- Every concurrent change would otherwise update the same (status, currency) row and queue behind it,
-- so a backend writes its own slot (its pid modulo 16) and readers sum the slots: two sessions share a
-- row only when their pids collide, and then they wait for each other only as long as a commit.
CREATE TABLE caas_core.application_state_counts (
    status   text     NOT NULL,
    currency char(3)  NOT NULL,
    slot     smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    n        bigint   NOT NULL,
    PRIMARY KEY (status, currency, slot)
);

-- SECURITY DEFINER: the application role may read the counts but not write them, so they can only
-- change with the applications themselves.
CREATE FUNCTION caas_core.count_application_states() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s smallint := pg_backend_pid() % 16;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO caas_core.application_state_counts AS c (status, currency, slot, n)
        VALUES (OLD.status, OLD.currency, s, -1)
        ON CONFLICT (status, currency, slot) DO UPDATE SET n = c.n - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO caas_core.application_state_counts AS c (status, currency, slot, n)
        VALUES (NEW.status, NEW.currency, s, 1)
        ON CONFLICT (status, currency, slot) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER applications_state_counts_insert_delete AFTER INSERT OR DELETE ON caas_core.applications
    FOR EACH ROW EXECUTE FUNCTION caas_core.count_application_states();
CREATE TRIGGER applications_state_counts_update AFTER UPDATE OF status, currency ON caas_core.applications
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION caas_core.count_application_states();

-- The book as it stands; SHARE mode keeps writers out until the counts and the trigger are in place.
LOCK TABLE caas_core.applications IN SHARE MODE;
INSERT INTO caas_core.application_state_counts (status, currency, slot, n)
SELECT status, currency, 0, count(*) FROM caas_core.applications GROUP BY status, currency;

REVOKE ALL ON caas_core.application_state_counts FROM caas_app;
GRANT SELECT ON caas_core.application_state_counts TO caas_app;
