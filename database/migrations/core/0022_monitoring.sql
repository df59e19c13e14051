-- The monitoring dashboard counts applications per state and ages them by how long they have been in
-- it (database/monitoring/dashboard.py): an index-only scan instead of reading every application row.
CREATE INDEX applications_state_age_idx ON caas_core.applications (status, status_changed_at)
    INCLUDE (currency, reference);
