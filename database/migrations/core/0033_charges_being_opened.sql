-- The repayment charges still being opened at the gateway (tools/payments/charges.py): a collection
-- stays 'requested' only between its two transactions, so the worker's sweep for those left by a
-- stopped process (expire_stalled_charges, every minute) reads this index's few rows, not the book.
CREATE INDEX payments_charges_being_opened ON caas_core.payments (created_at)
    WHERE kind = 'collection' AND status = 'requested';
