-- Placing a bid counted the lender's decision on its provider row (decided_count, approved_count), so
-- every bid of one lender queued on that row from its statement to COMMIT: the largest lock wait left
-- in bench_journey's sampling. A decision (a bid, a declined or an expired invitation) is now one row
-- here, and the workers fold the rows into the provider row every minute (fold_provider_decisions,
-- database/marketplace/decision_tallies.py): the counts, and matching's smoothed approval rate that
-- providers_match_idx holds, lag the decisions by at most that. A bid takes the lender's row FOR SHARE
-- only (still ordered against a suspension or a capital change), so bids of one lender run together.
CREATE TABLE caas_core.provider_decision_tallies (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id uuid        NOT NULL REFERENCES caas_core.providers (id),
    approved    boolean     NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, DELETE ON caas_core.provider_decision_tallies TO caas_app;
GRANT USAGE, SELECT ON SEQUENCE caas_core.provider_decision_tallies_id_seq TO caas_app;
