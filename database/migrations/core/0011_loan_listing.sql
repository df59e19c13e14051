-- list_loans pages newest first by (created_at, id): every loan for staff, one provider's for a
-- provider. Borrowers' pages use loans_borrower_idx and agents' go through applications_creator_idx.
CREATE INDEX loans_created_idx ON caas_core.loans (created_at DESC, id DESC);
CREATE INDEX loans_provider_created_idx ON caas_core.loans (provider_id, created_at DESC, id DESC);
