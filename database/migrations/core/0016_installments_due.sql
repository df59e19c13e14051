-- The repayment reminder scans installments due in the next few days, in (due_date, loan, number)
-- order with a keyset cursor: only open installments are indexed, so the scan reads what it sends.
CREATE INDEX loan_installments_open_due_idx
    ON caas_core.loan_installments (due_date, loan_id, number)
    WHERE NOT cancelled AND settled_at IS NULL;
