-- Money received that its loan refused (a charge paid after the loan was paid off) is booked: the
-- vendor holds it (cash_clearing) and the platform owes it back to the payer (suspense) until it is
-- refunded, when an admin reverses the journal (tools/payments/core.py, tools/ledger/ledger.py).
ALTER TABLE caas_ledger.journals DROP CONSTRAINT journals_kind_check;
ALTER TABLE caas_ledger.journals ADD CONSTRAINT journals_kind_check CHECK (kind IN (
    'capital_deposit', 'capital_withdrawal', 'reservation', 'reservation_release', 'disbursement',
    'interest_accrual', 'repayment', 'settlement', 'commission', 'fee', 'write_off', 'reversal', 'suspense'
));
