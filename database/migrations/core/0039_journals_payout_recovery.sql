-- Money a payout sent that no loan took (the vendor paid a payout it had reported failed, after its
-- retry was requested, or paid one of a loan cancelled since) is booked: it left the vendor
-- (cash_clearing) and its recipient owes it back (payout_recovery) until it is recovered, when an admin
-- reverses the journal (tools/payments/core.py, tools/ledger/ledger.py).
ALTER TABLE caas_ledger.journals DROP CONSTRAINT journals_kind_check;
ALTER TABLE caas_ledger.journals ADD CONSTRAINT journals_kind_check CHECK (kind IN (
    'capital_deposit', 'capital_withdrawal', 'reservation', 'reservation_release', 'disbursement',
    'interest_accrual', 'repayment', 'settlement', 'commission', 'fee', 'write_off', 'reversal', 'suspense',
    'payout_recovery'
));
