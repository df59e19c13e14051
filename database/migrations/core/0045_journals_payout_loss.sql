-- A payout booked for recovery that its recipient will not pay back is written off by an admin
-- (payments_write_off_payout): a payout_loss journal, Dr platform payout_losses, Cr platform
-- payout_recovery, whose source is the booking's journal (so each booking is written off once).
ALTER TABLE caas_ledger.journals DROP CONSTRAINT journals_kind_check;
ALTER TABLE caas_ledger.journals ADD CONSTRAINT journals_kind_check CHECK (kind IN (
    'capital_deposit', 'capital_withdrawal', 'reservation', 'reservation_release', 'disbursement',
    'interest_accrual', 'repayment', 'settlement', 'commission', 'fee', 'write_off', 'reversal', 'suspense',
    'payout_recovery', 'payout_loss'
));
