"""The statements seed_scale.py runs, one per table, each one server-side INSERT ... SELECT over
generate_series (no row crosses the wire; the providers and the account ids are COPYed before them).

Tokens replaced before running: @A applications, @L loans (the first @L applications, disbursed),
@R repayments per loan (installments 1..@R paid, one journal each), @H notifications of the heavy inbox,
@NOW the seed's clock. Ids are pg_temp.sid(kind, n): an ordered UUID per table, so each primary key
is appended to, not inserted at random (the load is then bound by the rows, not by index page splits).

The book, all in NGN (one currency keeps every journal balanced in one place):
  * applications: the first @L disbursed (a loan each), the rest across the pipeline's states, each
    with its timeline (the transitions of its path), an assessment once it was scored;
  * invitations and bids: three providers per application that reached open_for_bids, the first
    bid accepted once an offer was accepted;
  * loans: 240,000.00 over 6 months, flat 24%, originated @R months ago (spread over 28 days), with
    6 installments of which the first @R are paid, a succeeded disbursement and @R collections;
  * ledger: per loan a disbursement journal (Dr loan principal_receivable, Cr provider
    capital_reserved) and @R repayment journals (Dr platform cash_clearing:onasis, Cr loan principal);
    cached balances = the sum of the postings, so reconciliation finds the book consistent;
  * outbox: an event per application, all published but the newest 0.1%; supabase_sync jobs for them
    (done), a provider_webhooks job per loan (delivered);
  * documents (two per tenth application), pending actions (one per hundred), notifications (one per
    application, plus @H in one inbox), support conversations (one per ten) with two messages each.
"""

from __future__ import annotations

SID = """
CREATE FUNCTION pg_temp.sid(k int, n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT (lpad(to_hex(k), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$;
CREATE FUNCTION pg_temp.sn(id uuid) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT ('x' || lpad(right(id::text, 12), 16, '0'))::bit(64)::bigint $$
"""

# Per application: its state, its path of states, and when it was made. Loans' applications come
# first (n < @L): made 7 days before their loan, @R months ago; the rest over the last 60 days.
APPS = """
CREATE TEMP TABLE seed_apps AS
SELECT n, pg_temp.sid(1, n) AS id, 'b-' || (n % greatest(@A / 2, 1)) AS borrower,
       p.status, p.path,
       CASE WHEN n < @L THEN timestamptz '@NOW' - interval '1 month' * @R
                              - interval '1 second' * ((@L - n) * 2419200.0 / @L) - interval '7 days'
            ELSE timestamptz '@NOW' - interval '1 second' * ((@A - n) * 5184000.0 / greatest(@A - @L, 1))
       END AS created_at
FROM generate_series(0, @A - 1) n
JOIN (VALUES
    (0, 'submitted', ARRAY['submitted']),
    (1, 'under_review', ARRAY['submitted', 'under_review']),
    (2, 'open_for_bids', ARRAY['submitted', 'under_review', 'open_for_bids']),
    (3, 'open_for_bids', ARRAY['submitted', 'under_review', 'open_for_bids']),
    (4, 'offer_accepted', ARRAY['submitted', 'under_review', 'open_for_bids', 'offer_accepted']),
    (5, 'approved', ARRAY['submitted', 'under_review', 'open_for_bids', 'offer_accepted', 'approved']),
    (6, 'declined', ARRAY['submitted', 'under_review', 'declined']),
    (7, 'withdrawn', ARRAY['submitted', 'withdrawn']),
    (8, 'expired', ARRAY['submitted', 'under_review', 'open_for_bids', 'expired']),
    (9, 'draft', ARRAY['draft']),
    (10, 'disbursed', ARRAY['submitted', 'under_review', 'open_for_bids', 'offer_accepted', 'approved',
                           'disbursed'])
) AS p (k, status, path) ON p.k = CASE WHEN n < @L THEN 10 ELSE n % 10 END;
CREATE UNIQUE INDEX ON seed_apps (n);
ANALYZE seed_apps
"""

STEPS: list[tuple[str, str]] = [
    (
        "applications",
        """
INSERT INTO caas_core.applications (id, reference, borrower_id, created_by, created_by_role, status,
    applicant_name, applicant_email, applicant_country, currency, requested_amount_minor, term_months,
    purpose, monthly_income_minor, monthly_obligations_minor, employment_status, months_in_employment,
    date_of_birth_encrypted, created_at, submitted_at, updated_at, status_changed_at)
SELECT id, 'CAAS-2025-' || lpad(n::text, 7, '0'), borrower, borrower, 'borrower', status,
       'Bench Applicant', 'bench@example.com', 'NG', 'NGN', 24000000, 6, 'business', 45000000, 3500000,
       'employed', 30, '\\x00'::bytea, created_at,
       CASE WHEN status <> 'draft' THEN created_at END,
       created_at + interval '1 minute' * cardinality(path),
       created_at + interval '1 minute' * cardinality(path)
FROM seed_apps ORDER BY n
""",
    ),
    (
        "application_transitions",
        """
INSERT INTO caas_core.application_transitions
    (application_id, from_status, to_status, actor_id, actor_role, reason, occurred_at)
SELECT a.id, a.path[s.i - 1], s.state, 'bench', 'operator', 'bench', a.created_at + interval '1 minute' * s.i
FROM seed_apps a, unnest(a.path) WITH ORDINALITY AS s (state, i)
ORDER BY a.n, s.i
""",
    ),
    (
        "risk_assessments",
        """
INSERT INTO caas_core.risk_assessments (id, application_id, model_version, stage, inputs, score, pd, grade,
    recommendation, result, assessed_by, assessed_at)
SELECT pg_temp.sid(6, n), id, 'bench-1', 'scoring', '{}', 700, 0.05, 'B',
       CASE WHEN status = 'declined' THEN 'decline' ELSE 'approve' END, '{}', 'bench',
       created_at + interval '2 minutes'
FROM seed_apps WHERE 'under_review' = ANY (path) ORDER BY n
""",
    ),
    (
        "provider_invitations",
        """
INSERT INTO caas_core.provider_invitations (id, application_id, provider_id, assessment_id, status, rank,
    fit_score, invited_by, invited_at)
SELECT pg_temp.sid(11, a.n * 3 + j), a.id, p.id, pg_temp.sid(6, a.n), 'bid_submitted', j + 1, 80 - j,
       'bench', a.created_at + interval '3 minutes'
FROM seed_apps a CROSS JOIN generate_series(0, 2) j
JOIN seed_ngn p ON p.k = (a.n * 3 + j) % (SELECT count(*) FROM seed_ngn)
WHERE 'open_for_bids' = ANY (a.path) ORDER BY a.n, j
""",
    ),
    (
        "bids",
        """
INSERT INTO caas_core.bids (id, application_id, provider_id, amount_minor, currency, annual_rate,
    term_months, repayment_frequency, schedule_method, valid_until, status, created_by, created_at,
    accepted_at)
SELECT i.id_bid, i.application_id, i.provider_id, 24000000, 'NGN', 0.24, 6, 'monthly', 'flat',
       i.invited_at + interval '7 days',
       CASE WHEN a.status = 'open_for_bids' THEN 'active' WHEN a.status = 'expired' THEN 'expired'
            WHEN i.rank = 1 THEN 'accepted' ELSE 'rejected' END,
       'bench', i.invited_at + interval '1 hour',
       CASE WHEN i.rank = 1 AND a.status NOT IN ('open_for_bids', 'expired')
            THEN i.invited_at + interval '2 hours' END
FROM (SELECT *, pg_temp.sid(3, n3) AS id_bid FROM (
        SELECT pi.*, (a2.n * 3 + pi.rank - 1) AS n3 FROM caas_core.provider_invitations pi
        JOIN seed_apps a2 ON a2.id = pi.application_id) x) i
JOIN seed_apps a ON a.id = i.application_id
ORDER BY i.n3
""",
    ),
    (
        "loans",
        """
INSERT INTO caas_core.loans (id, application_id, bid_id, provider_id, borrower_id, status, currency,
    principal_minor, annual_rate, term_months, repayment_frequency, schedule_method, installment_count,
    origination_fee_minor, total_interest_minor, total_of_payments_minor, amount_financed_minor,
    finance_charge_minor, apr, apr_percent, origination_date, first_due_date, maturity_date,
    disbursement_reference, disbursed_amount_minor, disbursed_at, commission_plan, created_by,
    created_at, updated_at)
SELECT pg_temp.sid(4, a.n), a.id, b.id, b.provider_id, a.borrower, 'active', 'NGN', 24000000, 0.24, 6,
       'monthly', 'flat', 6, 0, 2880000, 26880000, 24000000, 2880000, 0.4100, 41.00,
       (a.created_at + interval '7 days')::date,
       (a.created_at + interval '7 days' + interval '1 month')::date,
       (a.created_at + interval '7 days' + interval '6 months')::date, 'bench-' || a.n, 24000000,
       a.created_at + interval '7 days', '{}', 'bench', a.created_at + interval '7 days',
       a.created_at + interval '7 days'
FROM seed_apps a JOIN caas_core.bids b ON b.id = pg_temp.sid(3, a.n * 3)
WHERE a.n < @L ORDER BY a.n
""",
    ),
    (
        "loan_installments",
        """
INSERT INTO caas_core.loan_installments (loan_id, number, due_date, scheduled_principal_minor,
    scheduled_interest_minor, principal_due_minor, interest_due_minor, principal_paid_minor,
    interest_paid_minor, settled_at)
SELECT l.id, k, (l.origination_date + interval '1 month' * k)::date, 4000000, 480000, 4000000, 480000,
       CASE WHEN k <= @R THEN 4000000 ELSE 0 END, CASE WHEN k <= @R THEN 480000 ELSE 0 END,
       CASE WHEN k <= @R THEN l.origination_date + interval '1 month' * k END
FROM caas_core.loans l CROSS JOIN generate_series(1, 6) k ORDER BY l.id, k
""",
    ),
    (
        "payments",
        """
INSERT INTO caas_core.payments (id, kind, loan_id, amount_minor, currency, status, vendor, attempts,
    simulated, requested_by, created_at, updated_at, sent_at, settled_at)
SELECT pg_temp.sid(12, n * (@R + 1) + k), CASE WHEN k = 0 THEN 'disbursement' ELSE 'collection' END,
       pg_temp.sid(4, n), CASE WHEN k = 0 THEN 24000000 ELSE 4480000 END, 'NGN', 'succeeded', 'onasis', 1,
       true, 'bench', t, t, t, t
FROM (SELECT a.n, k, a.created_at + interval '7 days' + interval '1 month' * k AS t
      FROM seed_apps a CROSS JOIN generate_series(0, @R) k WHERE a.n < @L) x
ORDER BY t
""",
    ),
    (
        "ledger accounts",
        """
INSERT INTO caas_ledger.accounts (id, code, kind, currency, owner_type, owner_id, created_at)
SELECT account_id, code, 'asset', 'NGN', owner_type, owner_id, timestamptz '@NOW' - interval '1 year'
FROM seed_accounts ORDER BY account_id
""",
    ),
    (
        "ledger journals",
        """
INSERT INTO caas_ledger.journals (id, kind, source_id, memo, created_by, created_at)
SELECT pg_temp.sid(5, l.n * (@R + 1) + k), CASE WHEN k = 0 THEN 'disbursement' ELSE 'repayment' END,
       CASE WHEN k = 0 THEN l.id::text ELSE 'bench-repayment-' || l.n || '-' || k END, 'bench', 'bench',
       l.disbursed_at + interval '1 month' * k
FROM (SELECT pg_temp.sn(id) AS n, id, disbursed_at FROM caas_core.loans) l
CROSS JOIN generate_series(0, @R) k ORDER BY 1
""",
    ),
    (
        "ledger postings",
        """
INSERT INTO caas_ledger.postings (journal_id, account_id, currency, amount_minor, created_at)
SELECT pg_temp.sid(5, l.n * (@R + 1) + k), CASE WHEN side = 0 AND k = 0 THEN la.account_id
            WHEN side = 0 THEN (SELECT account_id FROM seed_accounts WHERE owner_type = 'platform')
            WHEN k = 0 THEN pa.account_id ELSE la.account_id END,
       'NGN', CASE WHEN side = 0 THEN 4000000 ELSE -4000000 END * CASE WHEN k = 0 THEN 6 ELSE 1 END,
       l.disbursed_at + interval '1 month' * k
FROM (SELECT pg_temp.sn(id) AS n, id, provider_id, disbursed_at FROM caas_core.loans) l
JOIN seed_accounts la ON la.owner_id = l.id::text
JOIN seed_accounts pa ON pa.owner_id = l.provider_id::text
CROSS JOIN generate_series(0, @R) k CROSS JOIN generate_series(0, 1) side
ORDER BY l.disbursed_at + interval '1 month' * k, l.n, k, side
""",
    ),
    (
        "ledger balances",
        """
INSERT INTO caas_ledger.account_balances (account_id, balance_minor, updated_at)
SELECT account_id, sum(amount_minor), max(created_at) FROM caas_ledger.postings GROUP BY account_id
""",
    ),
]

STEPS += [
    (
        "outbox",
        """
INSERT INTO caas_core.outbox (event_id, aggregate_type, aggregate_id, event_type, payload, occurred_at,
    published_at, attempts, next_attempt_at)
SELECT pg_temp.sid(13, n), 'application', id::text, 'application.' || status,
       jsonb_build_object('application_id', id, 'status', status), created_at,
       CASE WHEN n < @A - greatest(@A / 1000, 1) THEN created_at + interval '1 second' END, 0, created_at
FROM seed_apps ORDER BY created_at, n
""",
    ),
    (
        "jobs",
        """
INSERT INTO caas_core.jobs (queue, ordering_key, event_id, event_type, payload, created_at, attempts,
    next_attempt_at, done_at)
SELECT q, key, ev, et, pl, t, 1, t, CASE WHEN done THEN t + interval '1 second' END FROM (
    SELECT 'supabase_sync' AS q, id::text AS key, pg_temp.sid(13, n) AS ev, 'application.' || status AS et,
           jsonb_build_object('application_id', id) AS pl, created_at + interval '1 second' AS t,
           n < @A - greatest(@A / 1000, 1) AS done
    FROM seed_apps
    UNION ALL
    SELECT 'provider_webhooks', l.provider_id::text, pg_temp.sid(14, a.n), 'loan.disbursed',
           jsonb_build_object('provider_id', l.provider_id, 'loan_id', l.id, 'application_id', a.id),
           l.disbursed_at + interval '1 second', true
    FROM seed_apps a JOIN caas_core.loans l ON l.application_id = a.id
) j ORDER BY t
""",
    ),
    (
        "webhook_deliveries",
        """
INSERT INTO caas_core.webhook_deliveries (job_id, status, attempts, last_status_code, last_attempt_at, url,
    delivered_at, created_at, updated_at)
SELECT id, 'delivered', 1, 200, done_at, 'https://provider.example.com/hook', done_at, done_at, done_at
FROM caas_core.jobs WHERE queue = 'provider_webhooks' ORDER BY id
""",
    ),
    (
        "documents",
        """
INSERT INTO caas_core.document_uploads (id, application_id, document_type, file_name, media_type, size_bytes,
    storage, object_path, status, requested_by, requested_by_role, created_at, expires_at)
SELECT pg_temp.sid(8, n * 2 + j), id, (ARRAY['national_id', 'proof_of_income'])[j + 1], 'doc.pdf',
       'application/pdf', 120000, 'local', 'bench/' || n || '/' || j, 'registered', borrower, 'borrower',
       created_at, created_at + interval '1 hour'
FROM seed_apps CROSS JOIN generate_series(0, 1) j WHERE n % 10 = 0 AND status <> 'draft' ORDER BY n, j;
INSERT INTO caas_core.documents (id, application_id, upload_id, document_type, file_name, media_type,
    size_bytes, storage, object_path, sha256, uploaded_by, registered_by, registered_by_role, registered_at)
SELECT pg_temp.sid(9, pg_temp.sn(u.id)), u.application_id, u.id, u.document_type,
       u.file_name, u.media_type, u.size_bytes, u.storage, u.object_path,
       encode(sha256(u.object_path::bytea), 'hex'),
       u.requested_by, u.requested_by, 'borrower', u.created_at + interval '1 minute'
FROM caas_core.document_uploads u ORDER BY u.id
""",
    ),
    (
        "pending_actions",
        """
INSERT INTO caas_core.pending_actions (id, tool, arguments, args_sha256, summary, requester_subject,
    requester_role, status, created_at, expires_at, confirmed_by, confirmed_role, confirmed_at)
SELECT pg_temp.sid(15, n), 'payments_disburse_loan', jsonb_build_object('loan', pg_temp.sid(4, n)),
       encode(sha256(n::text::bytea), 'hex'), 'Disburse a loan', 'bench-agent', 'agent',
       CASE WHEN n % 4 = 0 THEN 'pending' ELSE 'confirmed' END, created_at,
       CASE WHEN n % 4 = 0 THEN timestamptz '@NOW' + interval '30 days'
            ELSE created_at + interval '15 minutes' END,
       CASE WHEN n % 4 <> 0 THEN 'bench-operator' END, CASE WHEN n % 4 <> 0 THEN 'operator' END,
       CASE WHEN n % 4 <> 0 THEN created_at + interval '1 minute' END
FROM seed_apps WHERE n % 100 = 0 ORDER BY created_at
""",
    ),
    (
        "notifications",
        """
INSERT INTO public.notifications (id, user_id, application_id, kind, title, body, channel, event_id,
    created_at, read_at)
SELECT pg_temp.sid(16, n), borrower, id, 'application.' || status, 'Your application', 'It moved on.',
       'in_app', pg_temp.sid(13, n), created_at, CASE WHEN n % 3 = 0 THEN created_at + interval '1 hour' END
FROM seed_apps
UNION ALL
SELECT pg_temp.sid(17, h), 'bench-heavy-user', NULL, 'application.submitted', 'Your application',
       'It moved on.', 'in_app', pg_temp.sid(18, h), timestamptz '@NOW' - interval '1 minute' * h, NULL
FROM generate_series(0, @H - 1) h
ORDER BY 9
""",
    ),
    (
        "support",
        """
INSERT INTO public.support_conversations (id, user_id, application_id, subject, status, created_at,
    updated_at, closed_at, closed_by)
SELECT pg_temp.sid(19, n), borrower, id, 'About my application',
       CASE WHEN n % 4 = 1 THEN 'closed' ELSE 'open' END, created_at, created_at + interval '2 hours',
       CASE WHEN n % 4 = 1 THEN created_at + interval '2 hours' END,
       CASE WHEN n % 4 = 1 THEN 'bench-operator' END
FROM seed_apps WHERE n % 10 = 5 ORDER BY created_at;
INSERT INTO public.support_messages (id, conversation_id, author_id, author_role, body, created_at)
SELECT pg_temp.sid(20, pg_temp.sn(c.id) * 2 + m), c.id,
       CASE WHEN m = 0 THEN c.user_id ELSE 'bench-operator' END,
       CASE WHEN m = 0 THEN 'borrower' ELSE 'operator' END, 'Bench message',
       c.created_at + interval '1 hour' * (m + 1)
FROM public.support_conversations c CROSS JOIN generate_series(0, 1) m ORDER BY 6
""",
    ),
]
